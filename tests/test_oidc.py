"""OpenID Connect sign-in end to end: Streamlit's own st.login against a local OpenID provider
(tests/fixtures_oidc.py: real HTTP, RS256-signed ID tokens), in headless Chromium. The console
process is `streamlit run streamlit_app.py` with the secrets file the launcher writes
(`app.launcher.streamlit_secrets.write_secrets`); e-mail / group allow-list -> role from ACCESS_ROLES."""
from __future__ import annotations

import json
import os

import pytest

from app.access import audit
from app.launcher import redis_server, streamlit_secrets
from app.store.clients import redis_from_url
from config.settings import Settings
from tests.browser_stack import new_page, streamlit_console
from tests.fixtures_oidc import CLIENT_ID, CLIENT_SECRET, oidc_provider  # noqa: F401 - fixture

pytestmark = pytest.mark.browser
ROLES = {"admin": ["group:ops"], "operator": ["*@example.com"]}


@pytest.fixture(scope="module")
def oidc_console(oidc_provider, redis_url, tmp_path_factory):
    data = tmp_path_factory.mktemp("oidc")
    port = redis_server.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "CONSOLE_"))}
    env.update(REDIS_URL=redis_url, DATA_DIR=str(data), PORT=str(port), CONSOLE_AUTH="oidc",
               OIDC_SERVER_METADATA_URL=oidc_provider.metadata_url, OIDC_CLIENT_ID=CLIENT_ID,
               OIDC_CLIENT_SECRET=CLIENT_SECRET, OIDC_REDIRECT_URI=url + "/oauth2callback",
               ACCESS_ROLES=json.dumps(ROLES), FORWARDED_ALLOW_IPS="")
    settings = Settings(_env_file=None, **{k: env[k] for k in (
        "DATA_DIR", "PORT", "CONSOLE_AUTH", "OIDC_SERVER_METADATA_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET",
        "OIDC_REDIRECT_URI")})
    env["STREAMLIT_SECRETS_FILES"] = str(streamlit_secrets.write_secrets(settings))
    with streamlit_console(env, data / "console.log") as console_url:
        yield console_url


def _oidc_sign_in(browser, url: str, email: str):
    pg = new_page(browser)
    pg.goto(url + "/")
    pg.get_by_role("button", name="Sign in with your identity provider").click()
    pg.locator("#email").fill(email)  # the provider's own page
    pg.get_by_role("button", name="Continue").click()
    return pg


def test_oidc_sign_in_maps_claims_to_roles_and_refuses_others(oidc_console, browser, redis_url):
    admin = _oidc_sign_in(browser, oidc_console, "alice@example.com")  # group "ops" -> admin
    admin.get_by_text("Signed in as alice@example.com · admin").wait_for()
    admin.get_by_role("button", name="Send health check").wait_for()
    admin.context.close()
    op = _oidc_sign_in(browser, oidc_console, "bob@example.com")  # *@example.com -> operator
    op.get_by_text("Signed in as bob@example.com · operator").wait_for()
    op.context.close()
    out = _oidc_sign_in(browser, oidc_console, "mallory@evil.test")  # matches nothing: refused
    out.get_by_text("is not allowed into this console").wait_for()
    assert out.get_by_role("button", name="Send health check").count() == 0
    out.context.close()
    client = redis_from_url(redis_url)
    got = {(e["who"], e["role"], e["action"], e["outcome"], e["auth"])
           for e in audit.read(client, audit.AuditFilter(text="example"), 50) + audit.read(client, audit.AuditFilter(
               text="evil.test"), 50)}
    assert ("alice@example.com", "admin", "sign_in", "ok", "oidc") in got
    assert ("bob@example.com", "operator", "sign_in", "ok", "oidc") in got
    assert ("mallory@evil.test", "viewer", "sign_in_failed", "refused", "oidc") in got
