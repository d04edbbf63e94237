"""Scripted customers: a caller that reacts to what the IVR does, so tests can walk every IVR path.

A customer call placed with ``CUST_SCRIPT`` (``Simulator.place_call(script=...)``) follows its script step
by step. Each step is applied when the IVR sends a matching AGI command on the caller's channel:

    step     := [ key ":" ] action
    action   := digits      send these DTMF digits (barge-in during the prompt), e.g. ``2`` or ``123456#``
              | "-"         press nothing: let this prompt time out
              | "h"         hang up (while the command runs)
    key      := the prompt of STREAM FILE / GET DATA / GET OPTION / CONTROL STREAM FILE (``cc-main-menu``),
                the application of EXEC in lower case (``dial``, ``voicemail``, ``musiconhold``),
                or ``wait`` for WAIT FOR DIGIT

Steps are separated by ``;``. A step without a key applies to the next command that listens for digits
(GET DATA, WAIT FOR DIGIT, GET OPTION, STREAM FILE with escape digits); a step with a key waits for a
command with that key and lets other commands pass. After the last step the customer stays on the line
(until the IVR or an agent ends the call, or its patience runs out). Example::

    "1;h"                        choose language 1, hang up at the next menu
    "cc-welcome:h"               hang up during the greeting
    "-;-;-"                      three timeouts
    "1;3;12;1234567#;dial:h"     ...an order number, then hang up while the IVR dials
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from callcenter.sim.pbx import Channel, Pbx

log = logging.getLogger(__name__)

_PROMPT_COMMANDS = {
    ("STREAM", "FILE"),
    ("CONTROL", "STREAM", "FILE"),
    ("GET", "DATA"),
    ("GET", "OPTION"),
}
#: simulated seconds between the command starting and the customer's action (inside the prompt)
REACTION = 0.2


@dataclass(frozen=True, slots=True)
class Step:
    key: str | None
    action: str


def parse_script(text: str) -> list[Step]:
    steps: list[Step] = []
    for raw in text.split(";"):
        part = raw.strip()
        if not part:
            continue
        key, sep, action = part.rpartition(":")
        steps.append(Step(key.strip() if sep else None, action.strip()))
    return steps


def command_key(words: tuple[str, ...], args: list[str]) -> tuple[str, bool]:
    """(match key, listens for digits) of an AGI command."""
    if words in _PROMPT_COMMANDS:
        listening = words != ("STREAM", "FILE") or (len(args) > 1 and args[1] != "")
        if words == ("CONTROL", "STREAM", "FILE"):
            listening = len(args) > 1 and args[1] != ""
        return (args[0] if args else ""), listening
    if words == ("WAIT", "FOR", "DIGIT"):
        return "wait", True
    if words == ("EXEC",):
        return (args[0].lower() if args else ""), False
    return " ".join(words).lower(), False


class CustomerScripts:
    """Installed as ``pbx.agi_hook`` by the simulator: called as each AGI command starts."""

    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx
        self._scripts: dict[str, list[Step]] = {}
        self._pos: dict[str, int] = {}
        self.actions = 0

    def on_command(self, chan: Channel, words: tuple[str, ...], args: list[str]) -> None:
        cust = chan.peer
        if cust is None or cust.dead:
            return
        text = cust.vars.get("CUST_SCRIPT", "")
        if not text:
            return
        steps = self._scripts.get(cust.uniqueid)
        if steps is None:
            steps = self._scripts[cust.uniqueid] = parse_script(text)
        i = self._pos.get(cust.uniqueid, 0)
        if i >= len(steps):
            return
        step = steps[i]
        key, listening = command_key(words, args)
        if (step.key is not None and step.key != key) or (step.key is None and not listening):
            return
        if words in _PROMPT_COMMANDS and args and self.pbx.sound_missing(args[0]):
            return  # nothing was played: the caller heard no prompt to answer
        self._pos[cust.uniqueid] = i + 1
        self.actions += 1
        self.pbx.spawn(self._act(cust, chan, step))

    async def _act(self, cust: Channel, chan: Channel, step: Step) -> None:
        pbx = self.pbx
        await pbx.clock.sleep(REACTION)
        if cust.dead or chan.dead:
            return
        if step.action == "h":
            pbx.request_hangup(cust, 16)
        elif step.action not in ("-", ""):
            await pbx.send_dtmf(cust, chan, step.action)
