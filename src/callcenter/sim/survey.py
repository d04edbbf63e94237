"""Simulated customers answering the post-call survey.

The service runs its survey on the caller's FastAGI channel after the *agent* hung up (Dial ``g``
returned 0; ``sim/pbx.py`` returns 0 only then, never when the caller hung up). A customer hears the
survey's GET DATA prompts like any other: what each generated customer will do is drawn when the call
is placed (:func:`survey_plan`, from its own ``(seed, call index)`` stream, so a seed still reproduces a
run), kept in ``CUST_SURVEY``:

    "<score>[y|n]"   press the score (1-5) at ``score_prompt``, then the yes/no digit at ``solved_prompt``
                     (no letter: let that question time out)
    "h"              hang up at the score question (a survey offered and not answered)

A customer who is answering stays on the line after their talk time (``SurveyProfile.stay``) until the
IVR ends the call. A scripted customer (``CUST_SCRIPT``) whose script names a survey prompt answers
with its script instead (``"1;cc-survey-score:4;cc-survey-solved:1"``), and stays the same way; other
scripted customers (the demo's) answer from their plan.
"""

from __future__ import annotations

import random

from callcenter.sim.config import SurveyProfile
from callcenter.sim.model import IN_SURVEY
from callcenter.sim.pbx import Channel, Pbx

PLAN = "CUST_SURVEY"
REACTION = 0.3  # simulated seconds into the prompt before the customer acts


def survey_plan(profile: SurveyProfile, seed: int, index: int) -> str:
    """What customer number ``index`` of a run with ``seed`` will answer (see the module doc)."""
    r = random.Random(f"{seed}:survey:{index}")
    if r.random() >= profile.answer_prob:
        return "h"
    score = r.choices((1, 2, 3, 4, 5), weights=profile.scores)[0]
    if r.random() >= profile.solved_answer_prob:
        return str(score)
    return f"{score}{'y' if r.random() < profile.solved_yes_prob else 'n'}"


class SurveyAnswers:
    """Installed beside the scripts in ``pbx.agi_hook``: called as each AGI command starts."""

    def __init__(self, pbx: Pbx, profile: SurveyProfile) -> None:
        self.pbx = pbx
        self.profile = profile
        self.answered = 0
        self.refused = 0

    def on_command(self, chan: Channel, words: tuple[str, ...], args: list[str]) -> None:
        if words != ("GET", "DATA") or not args:
            return
        prompt = args[0]
        p = self.profile
        if prompt not in (p.score_prompt, p.solved_prompt):
            return
        cust = chan.peer
        if cust is None or cust.dead:
            return
        if prompt == p.score_prompt:
            cust.vars[IN_SURVEY] = "1"
        script = cust.vars.get("CUST_SCRIPT", "")
        if p.score_prompt in script or p.solved_prompt in script:
            return  # the script answers the survey itself
        plan = cust.vars.get(PLAN, "")
        if not plan:
            return  # a customer placed without a plan: lets the question time out
        if prompt == p.score_prompt:
            if plan == "h":
                self.refused += 1
                self.pbx.spawn(self._act(cust, chan, None))
                return
            self.answered += 1
            self.pbx.spawn(self._act(cust, chan, plan[0]))
            return
        answer = plan[1:2]
        if answer:
            self.pbx.spawn(self._act(cust, chan, p.yes_digit if answer == "y" else p.no_digit))

    async def _act(self, cust: Channel, chan: Channel, digit: str | None) -> None:
        pbx = self.pbx
        await pbx.clock.sleep(REACTION)
        if cust.dead or chan.dead:
            return
        if digit is None:
            pbx.request_hangup(cust, 16)
        else:
            await pbx.send_dtmf(cust, chan, digit)
