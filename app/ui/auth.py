"""Sign-in for the console: the gate every page passes (`require_login`), the check every refreshing
fragment passes (`fragment`), and the signed-in identity (`identity`).

The mode comes from settings (`Settings.auth_mode`, README "Security"):

- ``none``: no sign-in; everyone is the local admin. Safe only because start-up refuses any bind
  address but loopback in this mode (`app.access.startup`).
- ``accounts``: built-in accounts (`python -m app users add`) and/or the shared CONSOLE_PASSWORD as
  account "admin"; a form with throttling (`app.access.signin`).
- ``oidc``: Streamlit's own ``st.login`` / ``st.user`` (Authlib); the e-mail / groups claim is mapped
  to a role by ACCESS_ROLES on every run, and only a verified e-mail (``email_verified`` true)
  matches an e-mail pattern.
- ``proxy``: a trusted reverse proxy's identity headers, only from PROXY_TRUSTED_ADDRESSES.

Every run of the page, and every run of a refreshing fragment, checks the session against Redis in
one round trip (`app.access.sessions.validate`): the role is the account's role now, and an ended
session (sign-out in another tab, "Sign out everywhere", an admin's "End sessions", a password
change, a removed account) shows the sign-in form on that run. A fragment that finds the person
gone or their role changed reruns the whole page, so the controls drawn outside it follow too.

The session token lives only in the HttpOnly ``cc_session`` cookie, set by the console's own route
(`app.ui.session_routes`): after a password sign-in the page hands the route a one-time code, never
the token. The page state (``st.session_state``) belongs to one identity: sign-out, expiry, an ended
session and a different person signing in clear all of it (pending confirmations, jobs, peeked
messages, widget values).
"""
from __future__ import annotations

import functools
import ipaddress
import json
import time

import streamlit as st

from app.access import audit
from app.access import identity as identities
from app.access import sessions, signin, startup
from app.access.identity import Identity
from app.errors import SignInRefused
from app.store.clients import STORE_DOWN
from app.ui.text import plain
from config.settings import get_settings

SESSION_KEY = "access_identity"
#: Digest (SHA-256 hex) of this page's session token; the token itself is never in the page state.
SID_KEY = "access_sid"
#: Name of the identity the page state belongs to.
OWNER_KEY = "access_owner"
#: A note for the sign-in form ("your session ended", "expired").
NOTICE_KEY = "access_notice"
#: The cookie route's path (under Streamlit's server.baseUrlPath).
SESSION_ROUTE = "/_console/session"
SIGN_OUT_ROUTE = "/_console/signout"


def _from_trusted_proxy(peer: str) -> bool:
    spec = get_settings().PROXY_TRUSTED_ADDRESSES
    if not spec or not peer:
        return False
    try:
        return any(ipaddress.ip_address(peer) in net for net in startup.proxy_networks(spec))
    except ValueError:
        return False


def client_address() -> str:
    """The client's address: the TCP peer, or the last X-Forwarded-For hop when the peer is one of
    PROXY_TRUSTED_ADDRESSES (a header from anyone else is ignored). "" when unknown."""
    peer = peer_address()
    if _from_trusted_proxy(peer):
        try:
            forwarded = (st.context.headers.get("X-Forwarded-For") or "").split(",")[-1].strip()
        except Exception:  # noqa: BLE001
            forwarded = ""
        return forwarded or peer
    return peer


def peer_address() -> str:
    """The TCP peer address of this browser session ("" when unknown, e.g. under AppTest).

    Streamlit's ``st.context.ip_address`` hides loopback addresses; this reads the same client
    context without that, so the audit log says 127.0.0.1 rather than nothing.
    """
    try:
        from streamlit.runtime import exists, get_instance
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        if ctx is None or not exists():
            return ""
        client = get_instance().get_client(ctx.session_id)
        remote = client.client_context.remote_ip if client is not None and client.client_context else None
        return remote if isinstance(remote, str) else ""  # AppTest's stand-in client has none
    except Exception:  # noqa: BLE001 - internal API moved: fall back to the public one
        try:
            return st.context.ip_address or ""
        except Exception:  # noqa: BLE001
            return ""


def identity() -> Identity | None:
    """The identity this run was checked as (by `require_login` or a `fragment`), or None.

    No Redis: the check happened at the start of this run.
    """
    if get_settings().auth_mode == "none":
        return identities.local(client_address())
    return st.session_state.get(SESSION_KEY)


def _cookie_token() -> str:
    try:
        token = st.context.cookies.get(sessions.COOKIE)
    except Exception:  # noqa: BLE001 - no request context
        return ""
    return token if isinstance(token, str) and len(token) <= sessions.TOKEN_MAX_CHARS else ""


def _redis():
    from app.ui.resources import redis_client

    return redis_client()


def clear_page_state(notice: str | None = None) -> None:
    """Forget everything this browser session's page state holds (identity, pending confirmations,
    jobs, peeked messages, widget values); keep only `notice` for the sign-in form."""
    for key in list(st.session_state.keys()):
        try:
            del st.session_state[key]
        except Exception:  # noqa: BLE001 - a widget of this run refuses; its value is reset next run
            pass
    if notice:
        st.session_state[NOTICE_KEY] = notice


def _bind(ident: Identity) -> Identity:
    """Make `ident` the owner of the page state (a different person than before: clear it first)."""
    owner = st.session_state.get(OWNER_KEY)
    if owner is not None and owner != ident.name:
        sid = st.session_state.get(SID_KEY)
        clear_page_state()
        if sid:
            st.session_state[SID_KEY] = sid
    st.session_state[OWNER_KEY] = ident.name
    st.session_state[SESSION_KEY] = ident
    return ident


def _session_over(had: Identity | None, why: str) -> None:
    """The session ended elsewhere or expired: audit it once and clear this page's state."""
    if had is not None:
        try:
            audit.record(_redis(), had, "session_ended", had.name, "ok", {"seen_by": "page", "why": why})
        except STORE_DOWN:
            pass
        clear_page_state(f"Your session ended ({why}); sign in again." if why else None)


def _check_accounts() -> Identity | None:
    """accounts mode: validate this page's session (or its cookie's) against Redis, one round trip.

    Raises:
        STORE_DOWN errors: Redis is not answering (the caller shows it; the page state stays).
    """
    s = get_settings()
    had: Identity | None = st.session_state.get(SESSION_KEY)
    sid = st.session_state.get(SID_KEY)
    if not sid:
        token = _cookie_token()
        sid = sessions.digest(token) if token else None
    if not sid:
        if had is not None:
            _session_over(had, "signed out")
        return None
    ident = sessions.validate(_redis(), sid, client_address(), s.SESSION_MAX_AGE_S,
                              s.CONSOLE_PASSWORD is not None)
    if ident is None:
        if had is not None:
            _session_over(had, "signed out, ended or expired")
        elif st.session_state.get(SID_KEY):
            st.session_state.pop(SID_KEY, None)
        return None
    st.session_state[SID_KEY] = sid
    return _bind(ident)


def _oidc_identity() -> Identity | None:
    """oidc mode: the identity from Streamlit's signed-in user, its role from ACCESS_ROLES now.

    An e-mail matches an e-mail pattern only when the provider says ``email_verified`` is true;
    group patterns match the groups claim either way.
    """
    s = get_settings()
    user = st.user
    had: Identity | None = st.session_state.get(SESSION_KEY)
    if not user.is_logged_in:
        if had is not None:
            _session_over(had, "signed out")
        return None
    verified = user.get("email_verified") is True
    email = str(user.get("email") or "")
    groups = user.get(s.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    role = signin.role_for(s.ACCESS_ROLES, email if verified else "", list(groups))
    if role is None:
        if had is not None:
            _session_over(had, "no longer in ACCESS_ROLES")
        return None
    name = email or str(user.get("sub") or "unknown")
    signed_in_at = had.signed_in_at if had is not None and had.name == name else time.time()
    if time.time() - signed_in_at > s.SESSION_MAX_AGE_S:
        _session_over(had, "expired")
        st.logout()
        return None
    return _bind(Identity(name, role, client_address(), "oidc", signed_in_at))


def check() -> Identity | None:
    """Check who this run belongs to, now (one Redis round trip in accounts mode); None: nobody.

    Raises:
        STORE_DOWN errors: Redis is not answering (accounts mode).
    """
    s = get_settings()
    if s.auth_mode == "none":
        return identities.local(client_address())
    if s.auth_mode == "accounts":
        return _check_accounts()
    if s.auth_mode == "oidc":
        return _oidc_identity()
    ident = st.session_state.get(SESSION_KEY)  # proxy: the headers of this connection, checked at its start
    if ident is not None and time.time() - ident.signed_in_at > s.SESSION_MAX_AGE_S:
        _session_over(ident, "expired")
        return None
    return ident


def in_fragment_run() -> bool:
    """True during a fragment-only run (a fragment's timer or widget), False on a full page run."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and getattr(ctx, "fragment_ids_this_run", None))


def fragment(run_every: float | None = None):
    """``st.fragment(run_every=...)`` that checks the session on each of its own runs.

    On a fragment-only run the session is validated first (one round trip; nothing without
    sign-in); when the person is gone, or their role or name changed, the whole page reruns (sign-in
    form, or the controls their role now allows). On a full page run `require_login` has checked
    already.
    """
    def deco(fn):
        @st.fragment(run_every=run_every)
        @functools.wraps(fn)
        def body(*args, **kwargs):
            if get_settings().auth_mode != "none" and in_fragment_run():
                before = st.session_state.get(SESSION_KEY)
                try:
                    now = check()
                except STORE_DOWN:
                    return fn(*args, **kwargs)  # the fragment shows Redis being down itself
                if now is None or before is None or (now.name, now.role) != (before.name, before.role):
                    st.rerun(scope="app")
            return fn(*args, **kwargs)

        return body

    return deco


def _base_path() -> str:
    try:
        from streamlit import config

        base = (config.get_option("server.baseUrlPath") or "").strip("/")
    except Exception:  # noqa: BLE001
        base = ""
    return f"/{base}" if base else ""


def _route_script(path: str, body: dict[str, str]) -> None:
    """POST `body` to the console's own cookie route from the page (same origin, credentials)."""
    from urllib.parse import urlencode

    from app.ui import first_paint

    first_paint.skip_for_session()  # this element shows once: the page must not rerun over it
    st.html(f"<script>/* {time.time():.6f}: a new element each run, so the browser runs it again */ fetch({json.dumps(_base_path() + path)}, {{method: 'POST', credentials: 'same-origin', "
            f"headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, "
            f"body: {json.dumps(urlencode(body))}}});</script>", unsafe_allow_javascript=True)


def _hand_cookie_over(code: str) -> None:
    """Have the browser fetch its cookie with `code`; drawn on every run until the route took the
    code (a run the browser never rendered, e.g. one replaced by a rerun, would otherwise lose it)."""
    try:
        pending = sessions.hand_off_pending(_redis(), code)
    except STORE_DOWN:
        pending = True
    if pending:
        _route_script(SESSION_ROUTE, {"code": code})
    else:
        st.session_state.pop("access_cookie_code", None)


def _end_here(ident: Identity, everywhere: bool) -> None:
    sid = st.session_state.get(SID_KEY)
    try:
        if everywhere:
            sessions.sign_out_everywhere(_redis(), ident)
        else:
            sessions.end(_redis(), sid)
            audit.record(_redis(), ident, "sign_out", ident.name, "ok")
    except STORE_DOWN:
        pass  # Redis down: the page state is cleared below all the same
    clear_page_state("Signed out everywhere." if everywhere else "Signed out.")
    st.session_state["access_clear_cookie"] = True


def _sidebar(ident: Identity) -> None:
    s = get_settings()
    with st.sidebar:
        if s.auth_mode == "none":
            st.caption("No sign-in configured: this console listens on 127.0.0.1 only.")
            return
        st.caption(f"Signed in as **{plain(ident.name)}** · {ident.role.label}")
        if s.auth_mode == "proxy":
            return
        if st.button("Sign out", key="access_sign_out", icon=":material/logout:"):
            _end_here(ident, everywhere=False)
            if s.auth_mode == "oidc":
                st.logout()
            st.rerun()
        if s.auth_mode == "accounts" and st.button("Sign out everywhere", key="access_sign_out_all",
                                                   icon=":material/devices_off:",
                                                   help="End every session of yours, in every tab and browser"):
            _end_here(ident, everywhere=True)
            st.rerun()


def _form() -> None:
    s = get_settings()
    st.title("Sign in")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.info(notice)
    with st.form("access_sign_in"):
        name = st.text_input("Account", key="access_name")
        password = st.text_input("Password", type="password", key="access_password")
        go = st.form_submit_button("Sign in", type="primary")
    if go:
        try:
            ident = signin.sign_in_password(_redis(), s, name, password, client_address())
            token = sessions.create(_redis(), ident, s.SESSION_MAX_AGE_S)
            code = sessions.hand_off(_redis(), token)
        except SignInRefused as exc:
            st.error(str(exc))
        except STORE_DOWN as exc:
            st.error(f"Redis is not answering, so nobody can sign in now: {type(exc).__name__}.")
        else:
            clear_page_state()
            st.session_state.update({SID_KEY: sessions.digest(token), "access_cookie_code": code})
            _bind(ident)
            st.rerun()
    if s.CONSOLE_PASSWORD is not None:
        st.caption("The shared console password signs in as account “admin”.")


def _oidc_gate() -> None:
    user = st.user
    if not user.is_logged_in:
        st.title("Sign in")
        if notice := st.session_state.pop(NOTICE_KEY, None):
            st.info(notice)
        if st.button("Sign in with your identity provider", type="primary", key="access_oidc"):
            st.login()
        st.stop()
    email = str(user.get("email") or user.get("sub") or "unknown")
    verified = user.get("email_verified") is True
    why = "not in ACCESS_ROLES" if verified else "e-mail not verified by the identity provider"
    try:
        audit.record(_redis(), Identity(email, identities.Role.VIEWER, client_address(), "oidc", time.time()),
                     "sign_in_failed", email, "refused", {"reason": why})
    except STORE_DOWN:
        pass
    st.error(f"{email} is not allowed into this console ({why}). Ask an admin to add you to ACCESS_ROLES.")
    if st.button("Sign out", key="access_oidc_out"):
        st.logout()
    st.stop()


def _proxy() -> Identity | None:
    ident = st.session_state.get(SESSION_KEY)
    if ident is not None:
        return ident
    try:
        ident = signin.proxy_sign_in(_redis(), get_settings(), peer_address(), st.context.headers)
    except SignInRefused as exc:
        st.error(str(exc), icon=":material/lock:")
        st.stop()
    return _bind(ident)


def require_login() -> Identity:
    """Stop the script with the sign-in form (or a refusal) until someone is signed in; returns who.

    Checks the session against Redis on every run (see the module docstring).
    """
    s = get_settings()
    problems = startup.problems(s)
    if problems:
        for p in problems:
            st.error(p, icon=":material/lock:")
        st.stop()
    try:
        before = st.session_state.get(SESSION_KEY)
        ident = check()
    except STORE_DOWN as exc:
        st.error(f"Redis is not answering, so the console cannot check your session: {type(exc).__name__}. "
                 f"Reload once Redis is back.", icon=":material/error:")
        st.stop()
    if ident is not None and before is None and s.auth_mode == "oidc":
        try:
            audit.record(_redis(), ident, "sign_in", ident.name, "ok")
        except STORE_DOWN:
            pass
    if ident is None and s.auth_mode == "oidc":
        _oidc_gate()
    elif ident is None and s.auth_mode == "proxy":
        ident = _proxy()
    if ident is None:
        if st.session_state.get("access_clear_cookie"):  # on every run of the form, until a sign-in
            _route_script(SIGN_OUT_ROUTE, {})
        _form()
        st.stop()
    if code := st.session_state.get("access_cookie_code"):
        _hand_cookie_over(code)
    _sidebar(ident)
    return ident
