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
READ_ONLY = {"Why is it stuck?", "Refresh", "Cancel", "Peek", "Older", "Newer", "Newest", "Export CSV"}
ADMIN_ONLY = {"Purge queue…", "Apply…", "Set rate limit…", "Set time limits…", "Bulk revoke", "Bulk retry", "Save", "Delete",
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
    assert {"Purge queue…", "Set rate limit…", "Set time limits…", "Pause…", "Resume…"} <= _labels(at)


def at_client():
    from app.ui.resources import redis_client

    return redis_client()


def _entry() -> AppTest:
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)


def test_a_page_state_identity_without_a_live_session_is_refused(accounts_mode):
    """An identity in the page state is not enough: every run checks the session in Redis."""
    at = _entry()
    at.session_state[SESSION_KEY] = Identity("ui-admin", Role.ADMIN, "10.0.0.9", "accounts", 9e18)
    at.session_state["pending_action"] = {"label": "Purge q", "action": print, "owner": "ui-admin", "role": 3}
    at.run()
    assert not at.exception, at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert SESSION_KEY not in at.session_state and "pending_action" not in at.session_state
    assert any("session ended" in i.value for i in at.info)


def test_sign_in_form_refuses_a_wrong_password_and_creates_a_session(accounts_mode, redis_client):
    import uuid

    from app.access import accounts, identity, sessions
    from app.ui.auth import SID_KEY

    name = f"form-{uuid.uuid4().hex[:6]}"
    accounts.add(redis_client, identity.system("test"), name, "operator", "form password")
    at = _entry().run()
    assert [b.label for b in at.button] == ["Sign in"]  # nothing but the form before sign-in
    at.text_input(key="access_name").input(name)
    at.text_input(key="access_password").input("wrong password")
    at.button[0].click().run()
    assert any("Wrong account name or password" in e.value for e in at.error)
    at.text_input(key="access_password").input("form password")
    at.button[0].click().run()
    assert not at.exception, at.exception
    ident = at.session_state[SESSION_KEY]
    assert (ident.name, ident.role, ident.auth_method) == (name, Role.OPERATOR, "accounts")
    sid = at.session_state[SID_KEY]
    assert sessions.validate(redis_client, sid, "", 3600, False).name == name
    assert [s["sha"] for s in sessions.list_for(redis_client, name)] == [sid]
    assert not any(len(str(v)) == 43 for v in at.session_state.to_dict().values())  # no token in the state
    assert any(b.label == "Sign out" for b in at.button)  # clicking it: tests/test_browser_sessions.py
    assert [e["action"] for e in audit.read(redis_client, audit.AuditFilter(who=name), 5)] == \
        ["sign_in", "sign_in_failed"]
