"""The screen pop carries the case the caller heard in the IVR (``case_status`` → queue request variables)."""

from __future__ import annotations

from typing import Any, cast

from callcenter.domain.queueing import QueueRequest
from callcenter.services.crm import CrmService
from callcenter.services.ivr_cases import case_summary
from callcenter.services.screenpop import ScreenPopService


def test_pop_shows_the_case_heard_in_the_ivr() -> None:
    pops = ScreenPopService(cast(CrmService, None))
    sent: list[dict[str, Any]] = []
    pops.sink = lambda _agent, message: sent.append(message) or 1
    variables = {"case_id": "5", "case_number": "1000005", "case_stage": "in_repair", "language": "en"}
    pops.note_request(QueueRequest(call_id="c1", uniqueid="u1", queue="rma", variables=variables))
    pops.on_bus("acd", {"type": "call.offered", "agent": "1001", "call_id": "c1", "queue": "rma"})
    pop = next(m for m in sent if m["type"] == "pop")
    assert pop["call"]["case"] == {"id": "5", "number": "1000005", "stage": "in_repair"}
    pops.note_request(QueueRequest(call_id="c2", uniqueid="u2", queue="rma"))
    pops.on_bus("acd", {"type": "call.offered", "agent": "1002", "call_id": "c2", "queue": "rma"})
    assert [m for m in sent if m["type"] == "pop"][-1]["call"]["case"] is None
    assert case_summary({}) is None
