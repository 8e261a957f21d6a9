"""Roles in the UI (AppTest): a viewer sees no control that changes anything on any page, an
operator sees submits but no admin controls, and the audit page filters what was done."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.access import Identity, Role, audit
from app.ui.auth import SESSION_KEY
from config.settings import get_settings
from tests.conftest import ROOT

PAGES = ["task_monitor", "file_processing", "email", "ai", "reports", "schedules", "audit", "alerts", "issues"]
#: Buttons that only read or navigate (anything else on a viewer's page is a failure).
READ_ONLY = {"Why is it stuck?", "Refresh", "Cancel", "Peek"}
ADMIN_ONLY = {"Purge queue…", "Apply…", "Set rate limit…", "Bulk revoke", "Bulk retry", "Save", "Delete",
              "Edit", "Enable", "Disable", "Pause…", "Resume…", "Send test alert", "Save rule",
              "Retry all failed in this group"}


@pytest.fixture()
def accounts_mode(monkeypatch):
    monkeypatch.setattr(get_settings(), "CONSOLE_AUTH", "accounts")


def _page(name: str, role: Role, tmp_state: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)
    at.session_state[SESSION_KEY] = Identity(f"ui-{role.label}", role, "10.0.0.9", "accounts", 9e18)
    for k, v in (tmp_state or {}).items():
        at.session_state[k] = v
    return at.run()


def _labels(at: AppTest) -> set[str]:
    return {b.label for b in at.button}


@pytest.mark.parametrize("page", PAGES)
def test_viewer_sees_no_mutating_control(page, accounts_mode, celery_app):
    at = _page(page, Role.VIEWER)
    assert not at.exception, at.exception
    assert _labels(at) <= READ_ONLY, _labels(at) - READ_ONLY
    if page not in ("task_monitor", "schedules", "audit", "alerts", "issues"):
        assert any("read-only" in i.value for i in at.info)


def test_operator_submits_but_has_no_admin_controls(accounts_mode, celery_app):
    at = _page("task_monitor", Role.OPERATOR)
    assert not at.exception, at.exception
    assert {"Send health check", "Send document job"} <= _labels(at)
    assert not _labels(at) & ADMIN_ONLY
    before = len(audit.read(at_client(), audit.AuditFilter(who="ui-operator"), 1000))
    next(b for b in at.button if b.label == "Send health check").click().run()
    got = audit.read(at_client(), audit.AuditFilter(who="ui-operator"), 1000)
    assert len(got) == before + 1
    assert (got[0]["action"], got[0]["target"], got[0]["outcome"], got[0]["role"]) == \
        ("submit", "app.tasks.maintenance_tasks.health_check", "ok", "operator")
    assert got[0]["detail"]["task_id"]
    sched = _page("schedules", Role.OPERATOR)
    assert not sched.exception and not _labels(sched) & ADMIN_ONLY


def test_admin_sees_admin_controls(accounts_mode):
    at = _page("task_monitor", Role.ADMIN)
    assert {"Purge queue…", "Set rate limit…", "Pause…", "Resume…"} <= _labels(at)


def at_client():
    from app.ui.resources import redis_client

    return redis_client()
