"""The tracker's live call model (pure data): a call (keyed by Linkedid), its legs (keyed by Uniqueid)
and the offers to agents, as ``services/tracker`` builds them from PBX events; ``record()`` turns a leg
into its immutable ``LegRecord``. Moved out of the tracker (issue 15) so that the model and the event
handling can be read (and grow) apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callcenter.domain.calls import CallRecord, HangupSide, LegRecord, LegRole, TransferRecord

CUSTOMER_SIDE = frozenset({LegRole.CUSTOMER, LegRole.INBOUND, LegRole.OUTBOUND})


@dataclass(frozen=True, slots=True)
class ResyncDone:
    """What a finished resync tells the resume service."""

    at: float
    new_calls: frozenset[str]  # calls the resync created (live now, unknown to this process before)
    continued: bool = False  # not a resync: a finished call continues in a later PBX call (callback)


def last_seen(record: CallRecord) -> float:
    """The latest time recorded for a call: the last moment the store knew it alive."""
    times = [record.started_at]
    times += [
        t for t in (record.ivr_at, record.queued_at, record.offered_at, record.answered_at) if t is not None
    ]
    for leg in record.legs:
        times += [t for t in (leg.started_at, leg.answered_at, leg.ended_at) if t is not None]
    for offer in record.offers:
        times += [t for t in (offer.rang_at, offer.ended_at) if t is not None]
    times += [t.at for t in record.transfers]
    return max(times)


@dataclass(slots=True)
class LiveLeg:
    uniqueid: str
    call_id: str
    channel: str
    role: LegRole
    started_at: float
    agent: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    hangup_cause: int | None = None
    dial_status: str | None = None
    bridges: set[str] = field(default_factory=set)
    on_hold_since: float | None = None
    music_hold: bool = False  # the hold is music in a hold context (the console's hold)
    hangup_requested: bool = False

    def record(self) -> LegRecord:
        return LegRecord(
            uniqueid=self.uniqueid,
            call_id=self.call_id,
            channel=self.channel,
            role=self.role,
            started_at=self.started_at,
            agent=self.agent,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            hangup_cause=self.hangup_cause,
            dial_status=self.dial_status,
        )


@dataclass(slots=True)
class LiveOffer:
    agent: str
    uniqueid: str
    rang_at: float
    ended_at: float | None = None
    answered: bool = False
    dial_status: str | None = None


@dataclass(slots=True)
class LiveCall:
    call_id: str
    started_at: float
    caller_num: str = ""
    caller_name: str = ""
    dnis: str = ""
    direction: str = "internal"
    queue: str | None = None
    agent: str | None = None
    ivr_at: float | None = None
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    up_at: float | None = None
    hangup_cause: int | None = None
    hangup_by: HangupSide | None = None
    talk_first_leaver: LegRole | None = None
    talk_ended_at: float | None = None
    customer_requests: list[tuple[float, HangupSide]] = field(default_factory=list)
    recording_file: str | None = None
    pending_recording: str | None = None
    abandoned_in_queue: bool = False
    resumed: bool = False
    closed_by_resync: bool = False
    end_cause: str | None = None  # an ``EndCause`` value: the PBX ended the call
    monitor_of: str | None = None  # a ChanSpy session: the call it spies on
    continues: str | None = None  # the Linkedid of a later PBX call that continues this one (callback)
    # service restart (see "Resume" in the module docstring)
    restore_pending: bool = False  # created by a resync; its stored record is still being loaded
    resumed_at: float | None = None  # when a resync first listed the call
    resumed_bridged: bool = False  # a customer-side leg was in a bridge at that resync
    estimated: set[str] = field(default_factory=set)  # times guessed from the snapshot (stored wins)
    legs: dict[str, LiveLeg] = field(default_factory=dict)
    live_legs: int = 0
    offers: dict[str, LiveOffer] = field(default_factory=dict)
    transfers: list[TransferRecord] = field(default_factory=list)
    last_transfer_at: float = float("-inf")
    transfer_pending: bool = False  # a transfer event whose dial to an agent has not been seen yet
    talk_since: float | None = None
    talk_seconds: float = 0.0
    bridged_customer_legs: int = 0
    holds_active: int = 0
    hold_since: float | None = None
    hold_seconds: float = 0.0
    unbridged_hold_seconds: float = 0.0  # console holds: already outside talk time
    extra: dict[str, str] = field(default_factory=dict)

    def customer_leg(self) -> LiveLeg | None:
        return self.legs.get(self.call_id)
