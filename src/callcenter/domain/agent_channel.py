"""Which of an agent's live channels an action on "the agent's call" must use.

A PJSIP phone is one channel. A ``Local/`` agent is two (pbx-traces fact 30): ``;1`` is the dialed half,
the one bridged to the customer; ``;2`` runs the agent's dialplan and is never in the customer's bridge.
Hold (a dual Redirect), blind transfer, ChanSpy and hang-up must act on the bridged half: a dual Redirect
with ``;2`` as ExtraChannel tears the agent pair down while Asterisk still answers "Dual Redirect
successful" (fact 32), and a BlindTransfer on ``;2`` is ``Transfer invalid`` (fact 33).

One rule, used by the console (``services/console.py``) and the supervisor (``services/supervisor.py``):

1. only live legs count;
2. a ``Local/…;2`` half is never chosen while another leg of the agent lives (on hold, ``;1`` waits in
   ``[cc-hold-agent]`` out of any bridge: it is still the half to act on);
3. among the rest: a leg bridged with someone other than the agent's own legs first (the customer; not
   ``Local/1001@agents;2``'s own bridge with ``PJSIP/1001`` when ``[agents]`` dials the phone behind a
   Local pair), then an answered one, then the latest started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from callcenter.domain.calls import LegRecord


def is_local_dialplan_half(channel: str) -> bool:
    """``Local/1001@agents-0000000a;2``: the half that runs the dialplan, not the one bridged."""
    return channel.startswith("Local/") and channel.endswith(";2")


def agent_call_leg(
    legs: Iterable[LegRecord], peers: Callable[[LegRecord], Sequence[LegRecord]] = lambda _leg: ()
) -> LegRecord | None:
    """The leg of an agent's phone to act on (None: no live leg). ``peers`` gives the live legs in a
    bridge with a leg now (the tracker's ``bridge_peers``)."""
    live = [leg for leg in legs if leg.ended_at is None]
    if not live:
        return None
    dialed = [leg for leg in live if not is_local_dialplan_half(leg.channel)]
    candidates = dialed or live  # only a ;2 left: it is ending, a hang-up on it still works

    def with_the_other_party(leg: LegRecord) -> bool:
        return any(peer.agent is None or peer.agent != leg.agent for peer in peers(leg))

    return max(
        candidates,
        key=lambda leg: (with_the_other_party(leg), leg.answered_at is not None, leg.started_at),
    )
