"""QA caller search: a number typed in any format finds the call whatever format the PBX stored it in,
national formats included for the center's country (``CALLCENTER_DEFAULT_COUNTRY``)."""

from __future__ import annotations

import pytest

from callcenter.domain.phones import search_digits
from callcenter.domain.qa_recordings import CallSearch
from callcenter.store.crm import SqlCrmStore
from callcenter.store.qa import SqlQaStore
from tests.webapp.helpers import make_call


@pytest.mark.parametrize(
    ("query", "cc", "expected"),
    [
        ("+1 (202) 550-0156", "1", "2025500156"),
        ("202.550.0156", "1", "2025500156"),
        ("1 202.550.0156", "1", "2025500156"),
        ("+86 138 0013 8000", "86", "13800138000"),
        ("13800138000", "86", "13800138000"),
        ("0086 138 0013 8000", "86", "13800138000"),
        ("+44 20 7946 0958", "1", "442079460958"),  # another country: its E.164 digits
        ("0156", "1", "0156"),  # a partial number
        ("55-01", "1", "5501"),
        ("anonymous", "1", "anonymous"),
    ],
)
def test_search_digits(query: str, cc: str, expected: str) -> None:
    assert search_digits(query, cc) == expected


async def _hits(qa: SqlQaStore, caller: str) -> list[str]:
    return sorted(h.call_id for h in (await qa.search_calls(CallSearch(caller=caller))).hits)


async def test_caller_search_any_format(crm: SqlCrmStore) -> None:
    await crm.save_calls(
        [
            make_call("us-e164", agent="1001", caller_num="+12025500156"),
            make_call("us-national", agent="1001", caller_num="2025500156", started_at=1_700_000_100.0),
            make_call("cn", agent="1001", caller_num="+8613800138000", started_at=1_700_000_200.0),
        ]
    )
    us = SqlQaStore(crm.engine, default_country_code="1")
    assert await _hits(us, "+1 (202) 550-0156") == ["us-e164", "us-national"]
    assert await _hits(us, "202.550.0156") == ["us-e164", "us-national"]
    assert await _hits(us, "+86 138 0013 8000") == ["cn"]
    cn = SqlQaStore(crm.engine, default_country_code="86")
    assert await _hits(cn, "13800138000") == ["cn"]
    assert await _hits(cn, "138 0013 8000") == ["cn"]
