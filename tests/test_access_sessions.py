"""Sessions that can be taken away (real Redis, AppTest as the browser sessions): a role change,
a password change and a removal reach every open session on its next run; sign-out ends a session
in every tab holding it; "Sign out everywhere" and an admin's "End sessions"; the page state is
per identity and a confirmation runs only for the person who asked, with their role now; sign-in
throttling is checked before the hash; the ingester stores failures redacted."""
from __future__ import annotations

import io
import threading
import time
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from app.access import Identity, Role, accounts, audit, identity, sessions, signin
from app.errors import SignInRefused
from app.ui.auth import SESSION_KEY, SID_KEY
from config.settings import get_settings
from tests.conftest import ROOT

PASSWORD = "session password 1"


@pytest.fixture()
def accounts_mode(monkeypatch):
    monkeypatch.setattr(get_settings(), "CONSOLE_AUTH", "accounts")


def _person(client, role: str = "admin") -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    accounts.add(client, identity.system("test"), name, role, PASSWORD)
    return name


def _signed_in(name: str, password: str = PASSWORD) -> AppTest:
    """A browser session (AppTest on the entry script) signed in through the form."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.text_input(key="access_name").input(name)
    at.text_input(key="access_password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.session_state[SESSION_KEY].name == name
    return at


def _tab_of(at: AppTest) -> AppTest:
    """A second tab of the same browser: it holds the same session (the cookie's digest)."""
    tab = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    tab.session_state[SID_KEY] = at.session_state[SID_KEY]
    return tab.run()


def _on_form(at: AppTest) -> bool:
    return [b.label for b in at.button] == ["Sign in"] and SESSION_KEY not in at.session_state


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_demotion_reaches_an_open_session_on_its_next_run(accounts_mode, redis_client):
    name = _person(redis_client, "admin")
    at = _signed_in(name)
    assert "Purge queue…" in {b.label for b in at.button}
    accounts.set_role(redis_client, identity.system("test"), name, "viewer")
    at.run()  # a reload or any rerun: no grace period
    assert at.session_state[SESSION_KEY].role == Role.VIEWER
    assert not {"Purge queue…", "Send health check"} & {b.label for b in at.button}
    assert any("viewer" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("change", ["password", "removal"])
def test_password_change_and_removal_end_every_session(change, accounts_mode, redis_client):
    name = _person(redis_client, "operator")
    first, second = _signed_in(name), _signed_in(name)
    assert len(sessions.list_for(redis_client, name)) == 2
    if change == "password":
        accounts.set_password(redis_client, identity.system("test"), name, "a new password 2")
    else:
        accounts.remove(redis_client, identity.system("test"), name)
    assert sessions.list_for(redis_client, name) == []
    for at in (first, second):
        at.run()
        assert _on_form(at)
        assert any("session ended" in i.value for i in at.info)


def test_a_session_signed_in_before_a_password_change_is_refused_even_if_its_key_survived(redis_client):
    name = _person(redis_client, "viewer")
    ident = Identity(name, Role.VIEWER, "", "accounts", time.time() - 5)
    token = sessions.create(redis_client, ident, 3600)
    sha = sessions.digest(token)
    raw = accounts.store.get(redis_client, name)
    accounts.store.put(redis_client, name, raw.replace('"password_changed_at": ', '"password_changed_at": 1e10, "x": '))
    assert sessions.validate(redis_client, sha, "", 3600, False) is None
    assert sessions.get(redis_client, sha) is None  # ended, not just refused


def test_sign_out_in_one_tab_ends_the_session_in_every_tab(accounts_mode, redis_client):
    """What the sidebar buttons call (AppTest cannot click a widget drawn by the entry script
    above st.navigation: its id carries the page's hash; tests/test_browser_sessions.py clicks them)."""
    name = _person(redis_client, "viewer")
    first = _signed_in(name)
    other_tab = _tab_of(first)
    assert other_tab.session_state[SESSION_KEY].name == name
    other_browser = _signed_in(name)
    assert sessions.end(redis_client, first.session_state[SID_KEY])  # "Sign out" in the first tab
    for at in (first, other_tab):
        at.run()
        assert _on_form(at)
    other_browser.run()
    assert other_browser.session_state[SESSION_KEY].name == name  # a separate sign-in lives on
    assert sessions.sign_out_everywhere(redis_client, other_browser.session_state[SESSION_KEY]) == 1
    other_browser.run()
    assert _on_form(other_browser)
    assert sessions.list_for(redis_client, name) == []
    got = [(e["action"], e["outcome"]) for e in audit.read(redis_client, audit.AuditFilter(who=name), 10)]
    assert got[0] == ("session_ended", "ok") and ("sign_out_everywhere", "ok") in got


def test_admin_ends_another_persons_sessions_on_the_page_and_by_cli(accounts_mode, redis_client, monkeypatch):
    from app.access import cli

    admin, person = _person(redis_client, "admin"), _person(redis_client, "operator")
    victim = _signed_in(person)
    at = AppTest.from_file(str(ROOT / "pages" / "audit.py"), default_timeout=60)
    at.session_state[SESSION_KEY] = Identity(admin, Role.ADMIN, "", "accounts", time.time())
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="sessions_person").select(person).run()
    _button(at, f"End sessions of {person}").click().run()
    assert any(f"Ended 1 session(s) of {person}" in s.value for s in at.success)
    victim.run()
    assert _on_form(victim)
    e = audit.read(redis_client, audit.AuditFilter(action="user_sessions_end", text=person), 1)[0]
    assert (e["who"], e["outcome"], e["detail"]["sessions_ended"]) == (admin, "ok", 1)
    # the same from the console host
    _signed_in(person)
    monkeypatch.setattr(cli, "_client", lambda settings: redis_client)
    out = io.StringIO()
    assert cli.main(["sessions", person], out=out) == 0 and "accounts" in out.getvalue()
    out = io.StringIO()
    assert cli.main(["logout", person], out=out) == 0
    assert out.getvalue().strip() == f"Ended 1 session(s) of {person}."
    assert sessions.list_for(redis_client, person) == []
    # a non-admin may not
    with pytest.raises(Exception, match="may not user sessions end"):
        sessions.end_sessions_of(redis_client, Identity(person, Role.OPERATOR), admin)


def test_page_state_is_cleared_on_sign_out_and_the_next_person_sees_no_confirm(accounts_mode, redis_client):
    admin, viewer = _person(redis_client, "admin"), _person(redis_client, "viewer")
    ran = []
    at = _signed_in(admin)
    at.session_state["pending_action"] = {"label": "Purge every waiting message of q", "action": lambda: ran.append(1),
                                          "needs": "purge", "owner": admin, "role": int(Role.ADMIN)}
    for key in ("file_jobs", "report_jobs", "qc_peeked"):
        at.session_state[key] = ["something of the admin's"]
    at.run()
    assert "Confirm" in {b.label for b in at.button}
    sessions.end(redis_client, at.session_state[SID_KEY])  # signed out (here or in another tab)
    at.run()
    assert _on_form(at)
    left = set(at.session_state.to_dict())
    assert not left & {"pending_action", "file_jobs", "report_jobs", "qc_peeked", SID_KEY}, left
    # the next person signs in in this tab (what the form stores: the new session's digest)
    token = sessions.create(redis_client, Identity(viewer, Role.VIEWER, "", "accounts", time.time()), 3600)
    at.session_state[SID_KEY] = sessions.digest(token)
    at.run()
    assert at.session_state[SESSION_KEY].name == viewer
    assert "Confirm" not in {b.label for b in at.button}
    # a question another person asked, planted in this page state, is dropped unseen
    at.session_state["pending_action"] = {"label": "x", "action": lambda: ran.append(2), "owner": admin,
                                          "role": int(Role.ADMIN)}
    at.run()
    assert "Confirm" not in {b.label for b in at.button} and "pending_action" not in at.session_state
    assert ran == []


@pytest.mark.parametrize("needs", [None, "purge"])
def test_confirm_rechecks_the_role_of_the_one_who_confirms(needs, accounts_mode, redis_client):
    """The page alone (AppTest clicks page widgets only without st.navigation); the identity in the
    state is what the per-run check put there."""
    name, ran = f"c-{uuid.uuid4().hex[:6]}", []
    at = AppTest.from_file(str(ROOT / "pages" / "task_monitor.py"), default_timeout=60)
    at.session_state[SESSION_KEY] = Identity(name, Role.ADMIN, "", "accounts", time.time())
    at.session_state["pending_action"] = {"label": "Purge every waiting message of q", "action": lambda: ran.append(1),
                                          "needs": needs, "owner": name, "role": int(Role.ADMIN)}
    at.run()
    assert "Confirm" in {b.label for b in at.button}
    at.session_state[SESSION_KEY] = Identity(name, Role.OPERATOR, "", "accounts", time.time())  # demoted meanwhile
    _button(at, "Confirm").click().run()
    assert not at.exception, at.exception
    assert ran == []
    assert any("refused" in e.value for e in at.error)
    if needs:
        e = audit.read(redis_client, audit.AuditFilter(who=name), 1)
        assert not e or e[0]["outcome"] != "ok"


def test_parallel_wrong_passwords_compute_at_most_the_limit_of_hashes(redis_client):
    s = get_settings().model_copy(update={"SIGNIN_MAX_FAILURES": 5, "SIGNIN_MAX_FAILURES_PER_ADDRESS": 1000,
                                          "SIGNIN_DELAY_BASE_S": 60.0})
    name = _person(redis_client, "viewer")
    before = accounts.verifications
    results: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        try:
            signin.sign_in_password(redis_client, s, name, f"wrong {i}", f"10.7.{i % 250}.9")
            out = "in"
        except SignInRefused as exc:
            out = "throttled" if exc.retry_after_s else "refused"
        with lock:
            results.append(out)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    took_s = time.monotonic() - t0
    assert len(results) == 50 and "in" not in results
    assert accounts.verifications - before <= 5, accounts.verifications - before
    assert results.count("refused") == 5 and results.count("throttled") == 45
    entries = audit.read(redis_client, audit.AuditFilter(action="sign_in_failed", text=name), 100)
    assert len(entries) <= 5 + 1, [(e["outcome"], e["detail"]) for e in entries]
    assert took_s < 30


def test_one_burst_of_throttled_tries_is_one_entry_with_its_count(redis_client):
    s = get_settings().model_copy(update={"SIGNIN_MAX_FAILURES": 2, "SIGNIN_DELAY_BASE_S": 10.0})
    name, addr, t0 = _person(redis_client, "viewer"), "10.8.0.1", 2_000_000.0
    for i in range(2):
        with pytest.raises(SignInRefused, match="Wrong"):
            signin.sign_in_password(redis_client, s, name, "guess", addr, now=t0 + i)
    for i in range(20):
        with pytest.raises(SignInRefused, match="try again"):
            signin.sign_in_password(redis_client, s, name, PASSWORD, addr, now=t0 + 2 + i * 0.1)
    assert signin.sign_in_password(redis_client, s, name, PASSWORD, addr, now=t0 + 20).name == name
    got = [(e["action"], e["outcome"], e["detail"].get("count"))
           for e in audit.read(redis_client, audit.AuditFilter(text=name), 10) if e["action"].startswith("sign_in")]
    assert got == [("sign_in", "ok", None), ("sign_in_failed", "throttled", 20), ("sign_in_failed", "throttled", None),
                   ("sign_in_failed", "refused", None), ("sign_in_failed", "refused", None)]


def test_oidc_email_pattern_needs_a_verified_email(monkeypatch):
    from app.ui import auth

    class User(dict):
        is_logged_in = True

    s = get_settings()
    monkeypatch.setattr(s, "ACCESS_ROLES", {"admin": ["*@example.com"], "viewer": ["group:ops"]})
    for claims, want in [({"email": "a@example.com", "email_verified": True}, Role.ADMIN),
                         ({"email": "a@example.com"}, None),
                         ({"email": "a@example.com", "email_verified": "true"}, None),
                         ({"email": "a@example.com", "groups": ["ops"]}, Role.VIEWER)]:
        state: dict = {}
        monkeypatch.setattr(auth.st, "session_state", state)
        monkeypatch.setattr(auth.st, "user", User(claims))
        monkeypatch.setattr(auth, "client_address", lambda: "")
        got = auth._oidc_identity()
        assert (got.role if got else None) == want, claims


def test_cookie_route_sets_an_httponly_cookie_once_and_refuses_other_origins(redis_client):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from app.ui import session_routes

    name = _person(redis_client, "viewer")
    token = sessions.create(redis_client, Identity(name, Role.VIEWER, "", "accounts", time.time()), 3600)
    http = TestClient(Starlette(routes=session_routes.routes()), base_url="http://console.test")
    code = sessions.hand_off(redis_client, token)
    assert http.post("/_console/session", data={"code": code},
                     headers={"Origin": "http://evil.test"}).status_code == 403
    r = http.post("/_console/session", data={"code": code}, headers={"Origin": "http://console.test"})
    assert r.status_code == 204
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"cc_session={token};") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie and 3500 <= int(cookie.split("Max-Age=")[1].split(";")[0]) <= 3600
    assert http.post("/_console/session", data={"code": code}).status_code == 400  # a code works once
    gone = http.post("/_console/signout", headers={"Origin": "http://console.test"}).headers["set-cookie"]
    assert 'cc_session=""' in gone and "Max-Age=0" in gone


def test_the_access_package_speaks_to_redis_only_through_the_store():
    import ast

    for path in (ROOT / "app" / "access").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "redis" or n.startswith("redis.") for n in names), path.name
