"""The post-call survey end to end: the whole service against the simulator over real AMI + FastAGI.

* the agent hangs up → Dial ``g`` returns 0 with the caller still up → the survey flow runs on the
  caller's FastAGI channel → score and "solved" stored with call, agent and queue; a wrong digit (9)
  is asked again; the signed ``survey.answered`` webhook arrives;
* the caller hangs up first → Dial returns -1 (HANGUP) → no survey;
* a queue without a survey → Dial without ``g``, no survey;
* a low score on a complaint (the ``complaints`` queue) of a known customer → a follow-up ticket for the
  call, audited.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from callcenter.domain.tickets import TicketCategory, TicketPriority
from callcenter.sim.config import AgentPhoneProfile
from tests.acd.test_acd_service import eventually
from tests.csat.rig import csat_rig

AGENT_HANGS_UP = AgentPhoneProfile(
    ring_min=0.3,
    ring_max=0.3,
    no_answer_prob=0.0,
    busy_prob=0.0,
    talk_min=1.0,
    talk_max=1.0,
    agent_hangs_up_prob=1.0,
    wrapup=0.0,
)
CALLER_HANGS_UP = AgentPhoneProfile(
    ring_min=0.3,
    ring_max=0.3,
    no_answer_prob=0.0,
    busy_prob=0.0,
    talk_min=600.0,
    talk_max=600.0,
    agent_hangs_up_prob=0.0,
    wrapup=0.0,
)


async def test_agent_hangs_up_then_the_caller_scores_the_call(tmp_path: Path) -> None:
    async with csat_rig(tmp_path, AGENT_HANGS_UP) as rig:
        rig.sim.place_call(
            number="0555000101",
            name="Survey Caller",
            script="1;cc-survey-score:9;cc-survey-score:4;cc-survey-solved:1",
            patience=600.0,
            talk=600.0,
        )
        survey = await rig.answered_survey()
        assert (survey.score, survey.solved) == (4, True)
        assert (survey.agent, survey.queue, survey.flow) == ("1001", "support", "survey")
        assert survey.answered_at is not None and survey.answered_at >= survey.offered_at
        record = rig.service.ivr_recorder  # the IVR path of the call shows the survey and the wrong 9
        await record.flush()
        sessions = await rig.service.ivr_sessions.get_ivr_sessions(survey.call_id)
        steps = [s for session in sessions for s in session.path if s["type"] == "survey"]
        assert steps and steps[0]["invalid"] == 1 and steps[0]["digits"] == ["9", "4", "1"]
        assert steps[0]["result"] == "score 4, solved yes"
        await eventually(lambda: any(h["event"] == "survey.answered" for h in rig.hooks), timeout=10.0)
        hook = next(h for h in rig.hooks if h["event"] == "survey.answered")
        assert hook["ok"], "the webhook is signed with the shared secret"
        assert hook["body"]["data"]["call_id"] == survey.call_id
        assert hook["body"]["data"]["score"] == 4 and hook["body"]["data"]["agent"] == "1001"


async def test_caller_hangs_up_first_no_survey(tmp_path: Path) -> None:
    async with csat_rig(tmp_path, CALLER_HANGS_UP) as rig:
        rig.sim.place_call(number="0555000102", script="1", patience=600.0, talk=1.5)
        await rig.sessions_done(1)
        await rig.service.ivr_recorder.flush()
        assert await rig.surveys() == []
        assert rig.service.ivr.stats.outcomes.get("queued") == 1
        assert rig.service.surveys.stats["offered"] == 0


async def test_queue_without_survey_hangs_up_after_the_agent(tmp_path: Path) -> None:
    async with csat_rig(tmp_path, AGENT_HANGS_UP) as rig:
        stat = rig.sim.place_call(number="0555000103", script="3", patience=600.0, talk=600.0)
        await rig.sessions_done(1)
        await eventually(lambda: stat.ended, timeout=10.0)  # the dialplan hung the caller up
        assert await rig.surveys() == []


async def test_low_score_on_a_complaint_creates_a_follow_up_ticket(tmp_path: Path) -> None:
    async with csat_rig(tmp_path, AGENT_HANGS_UP) as rig:
        customer = await rig.service.crm.create_customer(
            {"name": "Carla Complains", "phones": ["+12025550104"]}, actor="test"
        )
        rig.sim.place_call(
            number="+12025550104",
            script="2;cc-survey-score:1;cc-survey-solved:2",
            patience=600.0,
            talk=600.0,
        )
        survey = await rig.answered_survey()
        assert (survey.score, survey.solved, survey.queue) == (1, False, "complaints")
        assert survey.customer_id == customer.id

        async def ticket() -> bool:
            page = await rig.service.crm.customer_tickets(customer.id)
            return bool(page.tickets)

        await eventually(ticket, timeout=10.0)
        (t,) = (await rig.service.crm.customer_tickets(customer.id)).tickets
        assert t.category is TicketCategory.FOLLOW_UP and t.priority is TicketPriority.HIGH
        assert t.call_id == survey.call_id and t.due_at is not None
        audit = await rig.service.audit.list_audit(actor="csat")
        entries = [e for e in audit if e.action == "csat.low_score"]
        assert [e.detail["ticket_id"] for e in entries] == [t.id]
        assert entries[0].detail["result"] == "follow_up"


async def test_a_call_transferred_to_a_survey_queue_is_surveyed_after_its_second_agent(
    tmp_path: Path,
) -> None:
    """The console's blind transfer to a queue (``[cc-queue]`` → FastAGI ``queue?queue=support``): the
    first leg (queue ``plain``, no survey) ends in the transfer, the second agent hangs up, the survey
    runs in the queue session and is stored with that queue."""
    phones = dataclasses.replace(AGENT_HANGS_UP, talk_min=12.0, talk_max=12.0)
    async with csat_rig(tmp_path, phones) as rig:
        rig.sim.place_call(
            number="0555000105",
            script="3;cc-survey-score:3;cc-survey-solved:1",
            patience=600.0,
            talk=600.0,
        )
        pbx = rig.sim.pbx
        assert pbx is not None

        def agent_bridged() -> str | None:
            chan = next((c for n, c in pbx.channels.items() if n.startswith("PJSIP/1001-")), None)
            return chan.name if chan is not None and chan.bridge is not None else None

        await eventually(agent_bridged, timeout=10.0)
        name = agent_bridged()
        assert name is not None
        reply = await rig.service.link.send_action(
            "BlindTransfer", {"Channel": name, "Context": "cc-queue", "Exten": "support"}
        )
        assert reply.get("Response") == "Success", reply
        await rig.answered_survey(timeout=30.0)

        async def solved() -> bool:  # the queue session is not counted in ivr.stats.active
            return any(s.solved is not None for s in await rig.surveys())

        await eventually(solved, timeout=10.0)
        (survey,) = await rig.surveys()
        assert (survey.queue, survey.agent, survey.score, survey.solved) == ("support", "1001", 3, True)
