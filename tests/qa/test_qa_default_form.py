"""QA can score out of the box: the service stores the shipped form at start when none exists."""

from __future__ import annotations

from typing import Any

from callcenter.domain.qa import parse_form_sections
from callcenter.domain.qa_default import DEFAULT_FORM_NAME, DEFAULT_FORM_SECTIONS
from callcenter.domain.users import Role, User
from tests.qa.conftest import FORM, QaEnv


def test_default_form_is_valid_with_yes_no_scale_weights_and_instant_fail() -> None:
    sections = parse_form_sections(DEFAULT_FORM_SECTIONS)
    questions = [q for s in sections for q in s.questions]
    assert {q.kind.value for q in questions} == {"yes_no", "scale"}
    assert any(q.instant_fail for q in questions)
    assert len({q.weight for q in questions}) > 1


async def test_started_service_has_the_default_form_once(qa_env: QaEnv) -> None:
    forms = await qa_env.service.qa.forms()
    assert [f.name for f in forms] == [DEFAULT_FORM_NAME]
    # a second start does not add it again, nor does it once an admin has a form of their own
    assert await qa_env.service.qa.ensure_default_form() is None
    admin = User(id=99, username="ada", role=Role.ADMIN)
    sections: Any = FORM["sections"]
    await qa_env.service.qa.create_form(admin, "Mine", sections)
    assert await qa_env.service.qa.ensure_default_form() is None
    assert len(await qa_env.service.qa.forms()) == 2
