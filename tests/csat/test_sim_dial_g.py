"""The simulator's app_dial is as strict as Asterisk's about option ``g`` (app_dial.c: ``if OPT_GO_ON &&
!ast_check_hangup(chan) ... res = 0``): only when the *callee* ended the bridge and the caller is still up
does ``EXEC Dial`` return 0; a caller hang-up is -1 with the asynchronous ``HANGUP`` line (fact 24), and
without ``g`` an agent hang-up is -1 too, the caller still up (fact 25). Plus the simulated customers'
survey answers are drawn from the configured distribution, reproducibly."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from callcenter.domain.errors import AgiHangup
from callcenter.pbx.fastagi import FastAgiConfig, FastAgiServer
from callcenter.ports import AgiChannel
from callcenter.sim.config import AgentPhoneProfile, CustomerProfile, SimConfig, SurveyProfile
from callcenter.sim.runner import Simulator
from callcenter.sim.survey import survey_plan
from tests.sim.replay import load
from tests.support.sim_agents import AGENT_TECHS, AgentTech, agent_endpoint


def _phones(agent_hangs_up: bool) -> AgentPhoneProfile:
    talk = 0.5 if agent_hangs_up else 600.0
    return AgentPhoneProfile(
        ring_min=0.2,
        ring_max=0.2,
        no_answer_prob=0.0,
        busy_prob=0.0,
        talk_min=talk,
        talk_max=talk,
        agent_hangs_up_prob=1.0 if agent_hangs_up else 0.0,
    )


async def _dial(
    options: str, *, agent_hangs_up: bool, customer_talk: float, tech: AgentTech = "PJSIP"
) -> dict[str, object]:
    seen: dict[str, object] = {}
    done = asyncio.Event()

    async def handler(channel: AgiChannel) -> None:
        try:
            reply = await channel.exec("Dial", f"{agent_endpoint(tech, '1001')},10,{options}")
            seen["result"] = reply.result
            seen["status"] = await channel.get_variable("DIALSTATUS")
            seen["hung_up"] = channel.hung_up
            if not channel.hung_up:
                seen["then"] = (await channel.stream_file("cc-survey-score")).code
        except AgiHangup:
            seen["hung_up"] = True
        finally:
            done.set()

    server = FastAgiServer(lambda s: handler if s == "ivr" else None, FastAgiConfig(port=0))
    await server.start()
    sim = Simulator(
        SimConfig(
            ami_port=0,
            mode="agi",
            agi_port=server.port,
            agents=1,
            agent_tech=tech,
            speed=10.0,
            customers=CustomerProfile(hostile_name_prob=0.0, dtmf_choices=("",)),
            phones=_phones(agent_hangs_up),
        )
    )
    await sim.start()
    try:
        sim.place_call(number="0555000200", patience=60.0, talk=customer_talk)
        await asyncio.wait_for(done.wait(), 20)
    finally:
        await sim.stop()
        await server.close(grace=1.0)
    return seen


@pytest.mark.parametrize("tech", AGENT_TECHS)
async def test_g_returns_0_only_when_the_agent_hung_up(tech: AgentTech) -> None:
    seen = await _dial("m(default)gU(mixmon)", agent_hangs_up=True, customer_talk=600.0, tech=tech)
    assert seen == {"result": "0", "status": "ANSWER", "hung_up": False, "then": 200}


async def test_without_g_an_agent_hang_up_is_minus_1_with_the_caller_still_up() -> None:
    seen = await _dial("m(default)U(mixmon)", agent_hangs_up=True, customer_talk=600.0)
    assert seen["result"] == "-1" and seen["status"] == "ANSWER" and seen["hung_up"] is False


@pytest.mark.parametrize("tech", AGENT_TECHS)
async def test_g_with_a_caller_hang_up_is_minus_1_and_hangup(tech: AgentTech) -> None:
    seen = await _dial("m(default)g", agent_hangs_up=False, customer_talk=0.5, tech=tech)
    assert seen["result"] == "-1" and seen["status"] == "ANSWER" and seen["hung_up"] is True
    assert "then" not in seen


def test_survey_answers_follow_the_configured_distribution() -> None:
    profile = SurveyProfile(answer_prob=0.6, scores=(0.5, 0.0, 0.0, 0.0, 0.5), solved_answer_prob=1.0)
    plans = [survey_plan(profile, 11, i) for i in range(4000)]
    assert plans == [survey_plan(profile, 11, i) for i in range(4000)]  # a seed reproduces a run
    counts = Counter(p[0] for p in plans)
    assert set(counts) == {"h", "1", "5"}
    assert counts["h"] / len(plans) == pytest.approx(0.4, abs=0.03)
    assert counts["1"] / counts["5"] == pytest.approx(1.0, abs=0.12)
    answered = [p for p in plans if p != "h"]
    assert all(len(p) == 2 and p[1] in "yn" for p in answered)
    assert sum(p[1] == "y" for p in answered) / len(answered) == pytest.approx(0.75, abs=0.04)
    with pytest.raises(ValueError):
        SurveyProfile(answer_prob=1.5)
    with pytest.raises(ValueError):
        SurveyProfile(scores=(0.0, 0.0, 0.0, 0.0, 0.0))


def test_sim_cli_survey_distribution() -> None:
    import argparse

    from callcenter.sim.runner import add_sim_arguments, config_from_args

    parser = add_sim_arguments(argparse.ArgumentParser())
    cfg = config_from_args(parser.parse_args(["--survey-answer-prob", "0.5", "--survey-scores", "0,0,1,1,2"]))
    assert cfg.customers.survey.answer_prob == 0.5 and cfg.customers.survey.scores == (0, 0, 1, 1, 2)
    for bad in (["--survey-scores", "1,2"], ["--survey-scores", "a,b,c,d,e"], ["--survey-answer-prob", "2"]):
        with pytest.raises(ValueError):
            config_from_args(parser.parse_args(bad))


def _dial_replies(session: str) -> list[str]:
    """The reply lines after ``EXEC Dial`` up to the next command, from the real ``dial-go-on.agi``."""
    lines = b"".join(r.payload for r in load("dial-go-on.agi") if r.conn == session).decode().split("\n")
    tx = [r.payload.decode() for r in load("dial-go-on.agi") if r.conn == session and r.kind == "TX"]
    assert any(t.startswith("EXEC Dial") and ",g" in t for t in tx), tx
    start = next(i for i, line in enumerate(lines) if line.startswith("EXEC Dial"))
    out: list[str] = []
    for line in lines[start + 1 :]:
        if line.startswith(("GET ", "STREAM ", "SET ")):
            break
        if line:
            out.append(line)
    return out


def test_the_simulator_rule_is_what_a_real_asterisk_recorded() -> None:
    """``dial-go-on.agi`` (Asterisk 22.10.1, fact 39): with ``g``, the agent's hang-up gives
    ``200 result=0`` and no HANGUP line; the customer's gives ``200 result=-1``, then HANGUP arrives
    ahead of the next reply: the two simulator tests above assert the same."""
    assert _dial_replies("agi1") == ["200 result=0"]
    after_caller = _dial_replies("agi2")
    assert after_caller[0] == "200 result=-1"
