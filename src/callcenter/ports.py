"""Protocols the services need; adapters (pbx/, store/, state/, webapp/) implement them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from callcenter.domain.acd import (
    AgentConfig,
    AgentStatus,
    AgentTransition,
    Claim,
    QueueConfig,
    QueueCounts,
    WaitingEntry,
)
from callcenter.domain.agi import AgiReply
from callcenter.domain.audit import AuditEntry
from callcenter.domain.calls import CallDisposition, CallPage, CallQuery, CallRecord
from callcenter.domain.customers import (
    Customer,
    CustomerChanges,
    CustomerDraft,
    CustomerNote,
    CustomerPage,
    CustomerQuery,
)
from callcenter.domain.hold import HeldCall
from callcenter.domain.ivr import CustomerInfo, IvrSessionRecord
from callcenter.domain.outbound import Attempt, Campaign, Contact, ContactDraft, DncEntry
from callcenter.domain.queueing import QueueRequest, RouteResult
from callcenter.domain.tickets import Ticket, TicketDraft, TicketEvent, TicketPage, TicketQuery
from callcenter.domain.users import Role, User, UserCredentials


class PbxControl(Protocol):
    """Actions sent to the PBX over AMI. Every call has a timeout and raises ``PbxError`` subclasses."""

    @property
    def connected(self) -> bool: ...

    async def send_action(
        self,
        action: str,
        fields: Mapping[str, str | Sequence[str]] | None = None,
        *,
        timeout: float | None = None,
    ) -> Mapping[str, str | list[str]]:
        """Send one action; return the response in the normal form (see ``pbx/message.py``)."""
        ...

    async def ping(self) -> float:
        """Round trip of a Ping in seconds."""
        ...

    async def hangup(self, channel: str, cause: int = 16) -> None: ...

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1) -> None: ...

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        timeout_ms: int = 30000,
        variables: Mapping[str, str] | None = None,
        action_id: str | None = None,
    ) -> str:
        """Async originate; returns the ActionID whose OriginateResponse event tells the outcome."""
        ...


class CrmStore(Protocol):
    """The CRM store. Writes are idempotent upserts keyed by call/leg ids."""

    async def save_calls(self, calls: Sequence[CallRecord]) -> None:
        """Upsert calls with their legs, offers, transfers and recordings in one transaction.
        A record whose ``version`` is lower than the stored one is ignored."""
        ...

    async def get_call(self, call_id: str) -> CallRecord | None: ...

    async def list_calls(self, query: CallQuery) -> CallPage: ...

    async def open_call_ids(self) -> Sequence[str]:
        """Ids of calls stored as in progress (for closing calls that vanished during an outage)."""
        ...

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the database answers."""
        ...

    async def add_user(
        self,
        username: str,
        password_hash: str,
        role: Role,
        *,
        display_name: str = "",
        agent: str | None = None,
    ) -> User: ...

    async def get_credentials(self, username: str) -> UserCredentials | None: ...

    async def get_user(self, user_id: int) -> User | None: ...

    async def set_user_language(self, user_id: int, language: str) -> None:
        """Store the pages' language the user chose (``""``: follow the browser)."""
        ...

    async def add_api_token(self, user_id: int, token_hash: str, label: str = "") -> None: ...

    async def user_for_token(self, token_hash: str) -> User | None: ...


class StoredCalls(Protocol):
    """The part of ``CrmStore`` the resume after a restart reads (``services/resume``)."""

    async def get_call(self, call_id: str) -> CallRecord | None: ...

    async def open_call_ids(self) -> Sequence[str]: ...


class CallSink(Protocol):
    """Where the tracker sends call snapshots (the records service; tests use a list)."""

    def call_changed(self, call: CallRecord) -> None: ...


class AgiChannel(Protocol):
    """One FastAGI session: one call sitting in the dialplan's ``AGI()``.

    Every command has a timeout. Once the caller is gone (the asynchronous ``HANGUP`` line, EOF, or a
    511 reply) commands that need a live channel raise ``AgiHangup``; the ones Asterisk still allows on a
    dead channel (GET/SET VARIABLE, VERBOSE, EXEC) keep working (fact 26).
    """

    @property
    def env(self) -> Mapping[str, str]:
        """The ``agi_*`` environment block, keys without the ``agi_`` prefix (``uniqueid``, ``callerid``...);
        ``agi_arg_N`` as ``arg_N``; the script's query string parsed into ``query``-prefixed keys."""
        ...

    @property
    def uniqueid(self) -> str: ...

    @property
    def hung_up(self) -> bool: ...

    async def command(self, line: str, *, timeout: float | None = None) -> AgiReply:
        """Send one raw AGI command line and return its parsed reply."""
        ...

    async def answer(self) -> None: ...

    async def hangup(self) -> None: ...

    async def stream_file(self, sound: str, escape_digits: str = "") -> AgiReply: ...

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> AgiReply: ...

    async def wait_for_digit(self, timeout_ms: int) -> AgiReply: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def get_variable(self, name: str) -> str | None: ...

    async def exec(self, application: str, args: str = "") -> AgiReply: ...

    async def verbose(self, message: str, level: int = 1) -> None: ...


@runtime_checkable
class IdleAgiChannel(AgiChannel, Protocol):
    """An ``AgiChannel`` that can sit with no command outstanding and still notice the caller leave."""

    async def wait_idle(self, timeout: float) -> bool:
        """With no command in flight, wait up to ``timeout`` seconds for Asterisk's asynchronous
        ``HANGUP`` line or EOF: True when the caller is gone, False when the time ran out. DTMF pressed
        meanwhile is lost (Asterisk's AGI reads and drops frames between commands). Cancelling is safe."""
        ...


class CallRouter(Protocol):
    """The ACD as the IVR sees it: hold this caller's AGI session until the call is answered by an agent,
    abandoned, turned into a callback, or sent elsewhere (overflow / no agents)."""

    def has_queue(self, name: str) -> bool: ...

    async def route(self, channel: AgiChannel, request: QueueRequest) -> RouteResult: ...


# --- ACD: shared live state, event bus, agent-state log ------------------------------------------


class AcdState(Protocol):
    """Shared live state of the ACD: queues, agents and their states, waiting callers.

    Two implementations of this one port: ``state.memory.MemoryAcdState`` (one process) and
    ``state.redis_acd.RedisAcdState`` (several service instances; every multi-key change is one Lua
    script, so assignment is atomic across instances). Failures raise ``StateError``.
    """

    # configuration
    async def save_queue(self, queue: QueueConfig) -> None: ...

    async def delete_queue(self, name: str) -> None: ...

    async def load_queues(self) -> list[QueueConfig]: ...

    async def save_agent(self, agent: AgentConfig) -> None:
        """Create or replace an agent's configuration (a new agent starts logged out)."""
        ...

    async def delete_agent(self, agent_id: str) -> None: ...

    async def load_agents(self) -> list[AgentConfig]: ...

    # agent states
    async def get_agent(self, agent_id: str) -> AgentStatus | None: ...

    async def list_agents(self) -> list[AgentStatus]: ...

    async def compare_and_set(self, status: AgentStatus) -> AgentStatus | None:
        """Store ``status`` if the stored version is still ``status.version``; returns the stored
        status (version + 1) or None when someone else changed the agent first."""
        ...

    async def due_timers(self, now: float) -> list[str]:
        """Agents whose timed wrap-up or busy rest ended at or before ``now``."""
        ...

    # waiting callers
    async def enqueue(self, entry: WaitingEntry) -> WaitingEntry:
        """Add a caller (its ``seq`` assigned here: FIFO within a priority)."""
        ...

    async def claim(self, queue: str, entry_id: str, now: float, rnd: float = 0.0, owner: str = "") -> Claim:
        """One tick of a waiting caller: if it is this entry's turn and an eligible agent is available,
        atomically reserve the agent (state ringing) and mark the entry offered (``claimed_by`` =
        ``owner``, the claiming instance)."""
        ...

    async def requeue(self, entry_id: str) -> bool:
        """An offer failed: the entry waits again in its original place."""
        ...

    async def remove(self, entry_id: str) -> WaitingEntry | None: ...

    async def to_callback(self, entry_id: str, caller_num: str) -> bool:
        """The caller asked for a callback: the entry keeps its place as a callback request."""
        ...

    async def get_entry(self, entry_id: str) -> WaitingEntry | None: ...

    async def waiting(self, queue: str) -> list[WaitingEntry]:
        """Entries waiting (not offered) in ``queue``, in serving order."""
        ...

    async def callbacks(self) -> list[WaitingEntry]:
        """Callback requests waiting in every queue."""
        ...

    async def entries(self) -> list[WaitingEntry]:
        """Every entry, waiting or offered, calls and callbacks, in all queues (the reconciler)."""
        ...

    async def counts(self, queue: str) -> QueueCounts: ...

    # instances (each holds a lease while alive) and the state's own health
    async def renew_lease(self, instance: str, ttl: float, now: float) -> None:
        """Hold (or extend) ``instance``'s lease for ``ttl`` seconds and list the instance."""
        ...

    async def drop_lease(self, instance: str) -> None: ...

    async def instances(self, now: float) -> dict[str, bool]:
        """Every listed instance → whether its lease is alive."""
        ...

    async def forget_instance(self, instance: str) -> None:
        """Stop listing an instance whose leftovers were released."""
        ...

    async def seeded(self) -> bool:
        """Whether the configuration is stored (False: a shared state that came back empty)."""
        ...

    async def mark_seeded(self) -> None: ...

    # statistics
    async def add_handle_time(self, queue: str, seconds: float, keep: int = 20) -> None: ...

    async def handle_times(self, queue: str) -> list[float]: ...

    async def incr(self, queue: str, counter: str, amount: int = 1) -> None: ...

    async def counters(self, queue: str) -> dict[str, int]: ...


#: A bus listener: ``(topic, event)``. Called on the event loop; must not block (queue it).
BusListener = Callable[[str, Mapping[str, Any]], None]


class Publisher(Protocol):
    """The event bus (screen pop, wallboard, other instances): in-process, or Redis pub/sub."""

    async def publish(self, topic: str, event: Mapping[str, Any]) -> None: ...

    def subscribe(self, listener: BusListener) -> Callable[[], None]:
        """Receive every event (this instance's and, on Redis, the others'); returns an unsubscribe."""
        ...


class HoldStore(Protocol):
    """The agent console's calls on hold, one per agent: in process (embedded) or in Redis, so that any
    instance (or this one after a restart) can resume a hold, show its timer, or end the other side when
    one side hangs up. Records expire ``ttl`` seconds after they were stored or last refreshed (the
    console refreshes the holds whose calls are still live). Failures raise ``StateError``."""

    async def put(self, held: HeldCall) -> bool:
        """Store ``held`` for ``held.agent`` unless that agent already has one (False then)."""
        ...

    async def get(self, agent: str) -> HeldCall | None: ...

    async def remove(self, agent: str) -> HeldCall | None:
        """Delete and return the agent's hold (atomic: of concurrent callers, one gets it)."""
        ...

    async def take_by_leg(self, uniqueid: str) -> HeldCall | None:
        """The hold one of whose two channels is ``uniqueid``, deleted (atomic, like ``remove``)."""
        ...

    async def refresh(self, agent: str) -> bool:
        """Restart the agent's hold's time to live (False: no such hold)."""
        ...

    async def list_held(self) -> list[HeldCall]: ...


class AgentStateLog(Protocol):
    """Where agent state transitions are stored (reports need their durations)."""

    async def save_transitions(self, transitions: Sequence[AgentTransition]) -> None: ...

    async def list_transitions(
        self, agent: str | None = None, since: float | None = None, limit: int = 1000
    ) -> list[AgentTransition]: ...


# --- IVR: customer lookup, recorded IVR paths, callback requests ---------------------------------


class CustomerDirectory(Protocol):
    """The CRM as the IVR's lookup node sees it (adapter: ``store/ivr.py``)."""

    async def find_by_phone(self, number: str) -> CustomerInfo | None: ...

    async def find_by_id(self, customer_id: int) -> CustomerInfo | None: ...


class IvrSessionStore(Protocol):
    """Where recorded IVR paths go (table ``ivr_sessions``, one row per AGI session of a call)."""

    async def save_ivr_sessions(self, sessions: Sequence[IvrSessionRecord]) -> None:
        """Upsert a batch in one transaction (idempotent by call id + uniqueid)."""
        ...

    async def get_ivr_sessions(self, call_id: str) -> list[IvrSessionRecord]: ...


class CallbackRequests(Protocol):
    """Where the IVR's callback node files a request (the ACD owns callbacks; optional)."""

    async def request_callback(
        self, call_id: str, number: str, queue: str | None, language: str, customer_id: int | None
    ) -> None: ...


# --- CRM: customers, notes, tickets (issue #6) -----------------------------------------------------


class CustomerImport(Protocol):
    """One import transaction: everything added through it is committed together or not at all."""

    async def taken_phones(self, numbers: Sequence[str]) -> dict[str, int]:
        """Which of these E.164 numbers are stored already: ``{number: customer_id}``."""
        ...

    async def add_customers(self, drafts: Sequence[CustomerDraft], *, author: str, now: float) -> int: ...


class CrmRecords(Protocol):
    """The CRM records (adapter: ``store/crm_records.py``). Unknown ids raise ``NotFound``; a phone number
    owned by another customer raises ``ValidationError`` on ``phones``; failures raise ``StoreError``."""

    async def create_customer(self, draft: CustomerDraft, *, author: str, now: float) -> Customer: ...

    async def get_customer(self, customer_id: int) -> Customer | None: ...

    async def customer_by_phone(self, number: str) -> Customer | None: ...

    async def update_customer(
        self, customer_id: int, changes: CustomerChanges, *, now: float
    ) -> Customer: ...

    async def search_customers(self, query: CustomerQuery) -> CustomerPage: ...

    async def add_note(self, customer_id: int, *, author: str, text: str, now: float) -> CustomerNote: ...

    async def list_notes(self, customer_id: int, *, limit: int = 100) -> list[CustomerNote]: ...

    async def customer_calls(
        self, customer_id: int, *, limit: int = 20, agent: str | None = None
    ) -> list[CallRecord]: ...

    def customer_import(self) -> AbstractAsyncContextManager[CustomerImport]:
        """A transaction for a whole import: rolled back when the block raises."""
        ...

    async def create_ticket(self, draft: TicketDraft, *, actor: str, now: float) -> Ticket: ...

    async def get_ticket(self, ticket_id: int) -> Ticket | None: ...

    async def list_tickets(self, query: TicketQuery) -> TicketPage: ...

    async def save_ticket_update(
        self, ticket: Ticket, *, expected_version: int, events: Sequence[TicketEvent]
    ) -> None:
        """Write the ticket only if the stored version is still ``expected_version``
        (``ConcurrentUpdate`` otherwise), with its history entries, in one transaction."""
        ...

    async def ticket_history(self, ticket_id: int) -> list[TicketEvent]: ...


# --- agent console: call dispositions (issue #6) ---------------------------------------------------


class DispositionStore(Protocol):
    """Wrap-up codes and call notes (adapter: ``store/console.py``, table ``call_dispositions``)."""

    async def save_disposition(self, disposition: CallDisposition) -> None:
        """Insert or replace the disposition of (call id, agent)."""
        ...

    async def get_disposition(self, call_id: str, agent: str) -> CallDisposition | None: ...

    async def dispositions_for_calls(self, call_ids: Sequence[str]) -> list[CallDisposition]: ...


# --- wallboard and supervisor actions (issue #7) ---------------------------------------------------


class Broadcaster(Protocol):
    """Pushes messages to the websocket subscribers of a topic (the web hub, behind an adapter)."""

    def publish(self, topic: str, message: dict[str, Any]) -> int:
        """Queue ``message`` for every subscriber of ``topic`` without waiting; returns how many."""
        ...

    def subscribers(self, topic: str) -> int: ...


class AuditLog(Protocol):
    """Where supervisor actions are recorded (``supervisor_audit`` table)."""

    async def save_audit(self, entry: AuditEntry) -> int: ...

    async def list_audit(
        self, since: float | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]: ...


# --- outbound campaigns (issue 17) ----------------------------------------------------------------


class Dialing(Protocol):
    """The outbound dialer's own port to the PBX (adapter: ``pbx/dialing.py``): places a customer call
    on the trunk. The call's Uniqueid (= its Linkedid) is ``call_id``, so the dialer knows the call
    before the PBX answers; the outcome arrives as the ``OriginateResponse`` of ``action_id``."""

    @property
    def connected(self) -> bool: ...

    async def dial_customer(
        self,
        number: str,
        *,
        call_id: str,
        action_id: str,
        caller_id: str,
        timeout_ms: int,
        variables: Mapping[str, str],
    ) -> None: ...

    async def dial_agent_first(
        self,
        endpoint: str,
        *,
        call_id: str,
        action_id: str,
        caller_id: str,
        timeout_ms: int,
        variables: Mapping[str, str],
    ) -> None:
        """Preview: ring the agent's phone (``endpoint``); once answered, the agent's channel runs
        ``[cc-preview]``, whose FastAGI session dials the customer."""
        ...

    def customer_dialstring(self, number: str) -> str:
        """The Dial target of a customer's number on the trunk (``PJSIP/<number>@<trunk>``)."""
        ...

    async def hangup(self, channel: str, cause: int = 16) -> None: ...


class OutboundStore(Protocol):
    """Campaigns, contacts, attempts and the do-not-call list (adapter: ``store/outbound.py``).
    Unknown ids raise ``NotFound``; a campaign name taken raises ``DuplicateError``."""

    async def create_campaign(self, campaign: Campaign) -> Campaign: ...

    async def save_campaign(self, campaign: Campaign) -> None: ...

    async def get_campaign(self, campaign_id: int) -> Campaign | None: ...

    async def list_campaigns(self) -> list[Campaign]: ...

    async def add_contacts(self, campaign_id: int, drafts: Sequence[ContactDraft], now: float) -> int:
        """Add contacts (a number already in the campaign is skipped); returns how many were added."""
        ...

    async def upsert_contact(self, campaign_id: int, draft: ContactDraft, now: float) -> Contact:
        """Add the contact, or make the campaign's contact of that number due again now (a closed one
        reopened with its attempts reset; a pending or dialling one kept as it is)."""
        ...

    async def claim_contacts(
        self, campaign_id: int, now: float, limit: int, accept: Callable[[Contact], bool], agent: str = ""
    ) -> list[Contact]:
        """Up to ``limit`` due pending contacts that ``accept`` takes, each moved to ``dialing`` (guarded:
        two dialers never claim the same contact), oldest due first."""
        ...

    async def save_contact(self, contact: Contact) -> None: ...

    async def get_contact(self, contact_id: int) -> Contact | None: ...

    async def contact_for_agent(self, campaign_id: int, agent: str) -> Contact | None:
        """The contact shown to (or connected to) ``agent`` and waiting for their outcome."""
        ...

    async def list_contacts(self, campaign_id: int, limit: int = 200) -> list[Contact]: ...

    async def add_attempt(self, attempt: Attempt) -> Attempt: ...

    async def record_attempt(self, attempt: Attempt, contact: Contact) -> Attempt:
        """Insert (``id == 0``) or update an attempt and save its contact, in one transaction."""
        ...

    async def save_attempt(self, attempt: Attempt) -> None: ...

    async def get_attempt(self, attempt_id: int) -> Attempt | None: ...

    async def list_attempts(self, campaign_id: int, limit: int = 200) -> list[Attempt]: ...

    async def campaign_counts(self, campaign_id: int) -> dict[str, dict[str, int]]:
        """``{"contacts": {status: n}, "results": {result: n}, "outcomes": {code: n}}``."""
        ...

    async def add_dnc(self, entry: DncEntry) -> bool:
        """Add a number (False: it was on the list already)."""
        ...

    async def remove_dnc(self, number: str) -> bool: ...

    async def dnc_numbers(self, numbers: Sequence[str]) -> set[str]:
        """Which of ``numbers`` are on the do-not-call list."""
        ...

    async def list_dnc(self, limit: int = 500) -> list[DncEntry]: ...
