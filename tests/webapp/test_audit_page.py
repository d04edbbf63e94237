"""``GET /audit``: the audit log page for admins, with filters read by the API's parser."""

from __future__ import annotations

import requests

from tests.webapp.live_server import LiveService


def _page(live: LiveService, role: str, **params: str) -> requests.Response:
    return requests.get(live.url + "/audit", params=params, headers=live.auth(role), timeout=10)


def test_the_audit_page_lists_supervisor_actions_with_filters(live_service: LiveService) -> None:
    live = live_service
    resp = requests.post(
        live.url + "/api/supervisor/agents/1001/state",
        json={"action": "pause", "reason": "audit-page-test"},
        headers=live.auth("supervisor"),
        timeout=10,
    )
    assert resp.status_code < 500, resp.text
    page = _page(live, "admin")
    assert page.status_code == 200
    assert 'data-testid="audit-table"' in page.text
    assert "supervisor" in page.text and "1001" in page.text and "audit-page-test" in page.text
    assert 'href="/audit"' in page.text  # in the navigation
    other = _page(live, "admin", actor="nobody-at-all")
    assert 'data-testid="audit-empty"' in other.text
    since = _page(live, "admin", since="2999-12-31T23:59:59")
    assert since.status_code == 200 and 'data-testid="audit-empty"' in since.text
    bad = _page(live, "admin", since="-3.6e16")
    assert bad.status_code == 200
    assert 'data-testid="audit-error"' in bad.text and "since: must be a time between" in bad.text


def test_the_audit_page_is_for_admins(live_service: LiveService) -> None:
    assert _page(live_service, "supervisor").status_code == 403
    assert _page(live_service, "agent").status_code == 403
    assert _page(live_service, "anonymous", since="x").status_code in (302, 303, 401) or (
        "/login" in _page(live_service, "anonymous").url
    )
