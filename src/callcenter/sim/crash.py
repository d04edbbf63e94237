"""``kill -9`` of the simulated PBX and its restart (tests/fixtures/pbx-traces fact 34, ``kill9-restart``).

What a real Asterisk 22.10.1 does when it is killed with SIGKILL, and what the simulator reproduces:

* every AMI session gets EOF right after the events already sent: **no** ``Event: Shutdown``, no
  Hangup, no SoftHangupRequest, no response to an action in flight;
* every FastAGI socket closes at the same moment, the pending command (``EXEC Dial``, ``WAIT FOR
  DIGIT``) unanswered: no reply line, no ``HANGUP``;
* every channel, bridge and counter is gone; new connections are refused (``ConnectionRefusedError``)
  until the new process listens (~1.9 s in the trace);
* after the restart: banner, Login, ``FullyBooted`` (Uptime 0), ``CoreShowChannels``/``Status`` list
  0 items, channel numbers and the Uniqueid counter start again from 0.

Use (the simulator owns the AMI port, so clients reconnect to the same ``sim.ami_port``)::

    async with Simulator(SimConfig(ami_port=0, ...)) as sim:
        ...                               # calls up, the service connected
        await sim.crash()                 # kill -9: EOF everywhere, connections refused
        ...                               # assert the service notices (its own call state is stale)
        await sim.restart()               # or sim.restart(delay=0.5): listens again, fresh state

``Simulator.crash_and_restart(down=...)`` does both with the PBX down for ``down`` wall seconds
(default ``SimConfig.restart_delay``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcenter.sim.ami import AmiServer
    from callcenter.sim.pbx import Pbx

log = logging.getLogger(__name__)


async def kill_ami(ami: AmiServer) -> None:
    """Stop listening, then close every session after what was already queued: EOF, no Shutdown."""
    if ami.server is not None:
        ami.server.close()
    for s in list(ami.sessions):
        s.close()
    if ami.server is not None:
        await ami.server.wait_closed()
        ami.server = None


async def kill_pbx(pbx: Pbx) -> None:
    """Drop every channel without a single event: FastAGI sockets close with no reply, tasks end."""
    pbx.stopping = True
    pbx.silence()
    for session in list(pbx.agi_sessions):
        session.kill()
    tasks = list(pbx.tasks())
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    pbx.channels.clear()
    log.info("PBX simulator killed (kill -9): %d tasks dropped", len(tasks))
