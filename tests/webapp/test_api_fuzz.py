"""Schemathesis against ``/api/openapi.json`` of the whole service, for every role: no 5xx, strict JSON.

The service runs in-process (``tests/webapp/live_server.py``: SQLite, in-process state, the fake PBX) on
a real loopback port; each role authenticates with its own API token, ``anonymous`` with nothing, and a
supervisor also with a session cookie (the CSRF token in ``X-CSRF-Token``, as the pages send it). For
each operation of the document, schemathesis generates requests that fit the schema (positive) and
requests that break it (negative: wrong types, out-of-range numbers, missing fields); every answer must
be below 500 and, when JSON, strict JSON.

Bounded for CI: ``CALLCENTER_FUZZ_EXAMPLES`` examples per operation and mode (default 8, about
10-20 s per role on 2 cores); derandomized (the same cases every run) unless ``CALLCENTER_FUZZ_SEED`` is
set, so a failure reproduces. A failure lists the requests as curl commands.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.config import SchemathesisConfig

from tests.webapp.live_server import USERS, LiveService

#: every role by API token, and one logged in through the form (session cookie + CSRF header)
ROLES = ("anonymous", *USERS, "supervisor+session")
EXAMPLES = int(os.environ.get("CALLCENTER_FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("CALLCENTER_FUZZ_SEED")
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


def _strict_json(text: str) -> str | None:
    """None when ``text`` is strict JSON, else why not."""

    def refuse(name: str) -> Any:
        raise ValueError(f"non-strict constant {name}")

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def schema(live_service: LiveService) -> Any:
    return schemathesis.openapi.from_url(
        live_service.url + "/api/openapi.json", config=SchemathesisConfig(), timeout=10
    )


def _fuzz(live: LiveService, role: str, operation: Any, mode: Any, out: Outcome) -> None:
    """Run ``EXAMPLES`` generated cases of one operation in one mode, recording problems in ``out``."""
    headers, cookies = live.auth(role), live.cookies(role)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(
            base_url=live.url, session=out.session, headers=headers, cookies=cookies, timeout=15
        )
        out.counts[response.status_code] = out.counts.get(response.status_code, 0) + 1
        problem = None
        if response.status_code >= 500:
            problem = f"{response.status_code} {response.text[:200]}"
        elif "json" in response.headers.get("Content-Type", ""):
            problem = _strict_json(response.text)
        if problem is not None and len(out.failures) < 20:
            curl = case.as_curl_command(headers=headers)
            out.failures.append(f"{operation.label} [{mode.value}]: {problem}\n    {curl}")

    if SEED is not None:
        run = seed(int(SEED))(run)
    run()


@dataclasses.dataclass
class Outcome:
    session: requests.Session = dataclasses.field(default_factory=requests.Session)
    failures: list[str] = dataclasses.field(default_factory=list)
    counts: dict[int, int] = dataclasses.field(default_factory=dict)


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@pytest.mark.parametrize("role", ROLES)
def test_no_server_error_for_any_input(live_service: LiveService, schema: Any, role: str) -> None:
    out = Outcome()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50, "the OpenAPI document lost its operations"
    started = time.monotonic()
    for operation in operations:
        for mode in MODES:
            _fuzz(live_service, role, operation, mode, out)
    elapsed = time.monotonic() - started
    counts = out.counts
    print(f"\n{role}: {sum(counts.values())} requests in {elapsed:.1f} s, statuses {sorted(counts.items())}")
    out.session.close()
    assert not out.failures, "\n".join(out.failures)
    if role == "anonymous":
        assert set(counts) <= {200, 400, 401, 403, 404, 405}, counts
