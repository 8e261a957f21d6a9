"""Sign-in for the console: the gate every page passes (`require_login`) and the signed-in identity.

The mode comes from settings (`Settings.auth_mode`, README "Security"):

- ``none``: no sign-in; everyone is the local admin. Safe only because start-up refuses any bind
  address but loopback in this mode (`app.access.startup`).
- ``accounts``: built-in accounts (`python -m app users add`) and/or the shared CONSOLE_PASSWORD as
  account "admin"; a form with throttling (`app.access.signin`).
- ``oidc``: Streamlit's own ``st.login`` / ``st.user`` (Authlib); the e-mail / groups claim is mapped
  to a role by ACCESS_ROLES.
- ``proxy``: a trusted reverse proxy's identity headers, only from PROXY_TRUSTED_ADDRESSES.

The identity lives in ``st.session_state`` with its sign-in time; `identity()` is a dict lookup
and a clock comparison (no Redis), so it costs nothing on a refreshing fragment. A password sign-in
also sets the ``cc_session`` cookie (`app.access.sessions`), looked up in Redis once per new browser
connection, so a reload or a new tab stays signed in. Sessions expire SESSION_MAX_AGE_S after
sign-in; "Sign out" ends the session in Redis and clears the cookie.
"""
from __future__ import annotations

import ipaddress
import time

import streamlit as st

from app.ui.text import plain

from app.access import audit
from app.access import identity as identities
from app.access import sessions, signin, startup
from app.access.identity import Identity
from app.errors import SignInRefused
from config.settings import get_settings

SESSION_KEY = "access_identity"
#: How often a signed-in account is looked up again (removed accounts / changed roles take effect).
ACCOUNT_RECHECK_S = 30.0


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
    """The signed-in identity of this browser session, or None (not signed in, or expired)."""
    s = get_settings()
    if s.auth_mode == "none":
        return identities.local(client_address())
    ident: Identity | None = st.session_state.get(SESSION_KEY)
    if ident is None and s.auth_mode == "accounts":
        ident = _from_cookie()
    if ident is not None and time.time() - ident.signed_in_at > s.SESSION_MAX_AGE_S:
        st.session_state.pop(SESSION_KEY, None)
        st.session_state["access_expired"] = ident.name
        return None
    return ident


def _cookie_token() -> str:
    try:
        token = st.context.cookies.get(sessions.COOKIE)
    except Exception:  # noqa: BLE001 - no request context
        return ""
    return token if isinstance(token, str) else ""  # AppTest's stand-in context has no cookies


def _from_cookie() -> Identity | None:
    """The identity of this connection's session cookie (one Redis lookup per connection)."""
    token = _cookie_token()
    if not token or st.session_state.get("access_cookie_checked") == token:
        return None
    st.session_state["access_cookie_checked"] = token
    if st.session_state.get("access_signed_out") == token:
        return None
    try:
        ident = sessions.lookup(_redis(), token, client_address(), get_settings().SESSION_MAX_AGE_S)
    except Exception:  # noqa: BLE001 - Redis down: show the sign-in form (and its error) instead
        return None
    if ident is not None:
        st.session_state[SESSION_KEY] = ident
        st.session_state["access_token"] = token
        st.session_state["access_checked_at"] = time.time()
    return ident


def _cookie_script(token: str, max_age_s: int) -> None:
    """Set (or with max_age_s=0 clear) the session cookie in the browser."""
    import json

    from app.ui import first_paint

    first_paint.skip_for_session()  # this element shows once: the page must not rerun over it
    secure = "; Secure" if _is_https() else ""
    st.html(f"<script>document.cookie = {json.dumps(sessions.COOKIE)} + '=' + {json.dumps(token)} + "
            f"'; Path=/; Max-Age={int(max_age_s)}; SameSite=Strict{secure}';</script>",
            unsafe_allow_javascript=True)


def _is_https() -> bool:
    try:
        return (st.context.url or "").startswith("https:")
    except Exception:  # noqa: BLE001
        return False


def _redis():
    from app.ui.resources import redis_client

    return redis_client()


def _sign_out(ident: Identity, reason: str = "sign_out") -> None:
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop("access_checked_at", None)
    token = st.session_state.pop("access_token", None) or _cookie_token()
    st.session_state["access_signed_out"] = token
    st.session_state["access_clear_cookie"] = True
    try:
        sessions.end(_redis(), token)
        audit.record(_redis(), ident, reason, ident.name, "ok")
    except Exception:  # noqa: BLE001 - Redis down: the session still ends here
        pass


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
            _sign_out(ident)
            if s.auth_mode == "oidc":
                st.logout()
            st.rerun()


def _recheck_account(ident: Identity) -> Identity | None:
    """Re-read a built-in account at most every ACCOUNT_RECHECK_S: removed -> signed out, role updated."""
    if ident.auth_method != "accounts":
        return ident
    now = time.time()
    if now - st.session_state.get("access_checked_at", 0.0) < ACCOUNT_RECHECK_S:
        return ident
    from app.access import accounts

    account = accounts.get(_redis(), ident.name)
    st.session_state["access_checked_at"] = now
    if account is None:
        _sign_out(ident, "session_expired")
        return None
    if account.role != ident.role:
        ident = Identity(ident.name, account.role, ident.client_address, ident.auth_method, ident.signed_in_at)
        st.session_state[SESSION_KEY] = ident
    return ident


def _form() -> None:
    s = get_settings()
    st.title("Sign in")
    if expired := st.session_state.pop("access_expired", None):
        try:
            audit.record(_redis(), Identity(expired, identities.Role.VIEWER, client_address(), "password"),
                         "session_expired", expired, "ok")
        except Exception:  # noqa: BLE001
            pass
        st.info("Your session expired; sign in again.")
    with st.form("access_sign_in"):
        name = st.text_input("Account", key="access_name")
        password = st.text_input("Password", type="password", key="access_password")
        go = st.form_submit_button("Sign in", type="primary")
    if go:
        try:
            ident = signin.sign_in_password(_redis(), s, name, password, client_address())
        except SignInRefused as exc:
            st.error(str(exc))
        else:
            token = sessions.create(_redis(), ident, s.SESSION_MAX_AGE_S)
            st.session_state.update({SESSION_KEY: ident, "access_checked_at": time.time(),
                                     "access_token": token, "access_cookie_pending": token})
            st.session_state.pop("access_signed_out", None)
            st.rerun()
    if s.CONSOLE_PASSWORD is not None:
        st.caption("The shared console password signs in as account “admin”.")


def _oidc() -> Identity | None:
    s = get_settings()
    user = st.user
    if not user.is_logged_in:
        st.title("Sign in")
        if st.button("Sign in with your identity provider", type="primary", key="access_oidc"):
            st.login()
        st.stop()
    ident = st.session_state.get(SESSION_KEY)
    if ident is not None:
        return ident
    email = str(user.get("email") or "")
    groups = user.get(s.OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    role = signin.role_for(s.ACCESS_ROLES, email, list(groups))
    who = Identity(email or str(user.get("sub") or "unknown"), role or identities.Role.VIEWER,
                   client_address(), "oidc", time.time())
    if role is None or (user.get("email_verified") is False):
        audit.record(_redis(), who, "sign_in_failed", who.name, "refused",
                     {"reason": "not in ACCESS_ROLES" if role is None else "e-mail not verified"})
        st.error(f"{who.name} is not allowed into this console. Ask an admin to add you to ACCESS_ROLES.")
        if st.button("Sign out", key="access_oidc_out"):
            st.logout()
        st.stop()
    audit.record(_redis(), who, "sign_in", who.name, "ok")
    st.session_state[SESSION_KEY] = who
    return who


def _proxy() -> Identity | None:
    ident = st.session_state.get(SESSION_KEY)
    if ident is not None:
        return ident
    try:
        ident = signin.proxy_sign_in(_redis(), get_settings(), peer_address(), st.context.headers)
    except SignInRefused as exc:
        st.error(str(exc), icon=":material/lock:")
        st.stop()
    st.session_state[SESSION_KEY] = ident
    return ident


def require_login() -> Identity:
    """Stop the script with the sign-in form (or a refusal) until someone is signed in; returns who."""
    s = get_settings()
    problems = startup.problems(s)
    if problems:
        for p in problems:
            st.error(p, icon=":material/lock:")
        st.stop()
    ident = identity()
    if ident is None and s.auth_mode == "oidc" and st.session_state.get("access_expired") and st.user.is_logged_in:
        expired = st.session_state.pop("access_expired")
        audit.record(_redis(), Identity(expired, identities.Role.VIEWER, client_address(), "oidc"),
                     "session_expired", expired, "ok")
        st.logout()
        st.stop()
    if ident is None and s.auth_mode == "oidc":
        ident = _oidc()
    elif ident is None and s.auth_mode == "proxy":
        ident = _proxy()
    elif ident is not None:
        ident = _recheck_account(ident)
    if ident is None:
        if st.session_state.pop("access_clear_cookie", False):
            _cookie_script("", 0)
        _form()
        st.stop()
    if token := st.session_state.pop("access_cookie_pending", None):
        _cookie_script(token, int(ident.signed_in_at + s.SESSION_MAX_AGE_S - time.time()))
    _sidebar(ident)
    return ident
