"""The API tokens section of the Users & audit page (AppTest, real Redis): an admin adds a token for a
person (its text shown once, and it works on the API's check), sees it listed without its text,
revokes it (audited), and a viewer sees no such section."""
from __future__ import annotations

import time
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from app.access import Identity, Role, accounts, api_tokens, audit, identity
from app.ui.auth import SESSION_KEY
from config.settings import get_settings
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "audit.py")


@pytest.fixture()
def owner(redis_client):
    name = f"tok-{uuid.uuid4().hex[:6]}"
    accounts.add(redis_client, identity.system("tests"), name, "operator", "correct horse battery")
    yield name
    if api_tokens.list_tokens(redis_client, name):
        api_tokens.revoke(redis_client, identity.system("tests"), name)
    accounts.remove(redis_client, identity.system("tests"), name)


def test_admin_adds_sees_once_lists_and_revokes_a_token(redis_client, owner):
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception, at.exception
    at.selectbox(key="api_token_owner").set_value(owner)
    at.selectbox(key="api_token_role").set_value("viewer")
    at.text_input(key="api_token_expires").input("2d")
    next(b for b in at.button if b.label == "Add token").click().run()
    assert not at.exception, at.exception
    shown = [c.value for c in at.code if c.value.startswith("cc_")]
    assert len(shown) == 1 and any("shown only this once" in s.value for s in at.success)
    who = api_tokens.identify(redis_client, get_settings(), shown[0])  # the token works
    assert who.role == Role.VIEWER and who.name.startswith(owner)
    (info,) = api_tokens.list_tokens(redis_client, owner)
    assert 2 * 86_400 - 60 < info.expires_at - time.time() <= 2 * 86_400
    entry = next(e for e in audit.recent(redis_client, 20) if e["action"] == "api_token_add")
    assert entry["target"] == owner and entry["detail"]["token_id"] == info.id
    at.run()  # the next run: listed by id, the text gone
    assert not [c for c in at.code if c.value.startswith("cc_")]
    listed = next(df.value for df in at.dataframe if "token id" in df.value.columns)
    assert info.id in set(listed["token id"]) and shown[0] not in listed.to_csv()
    at.selectbox(key="api_token_revoke_choice").set_value(f"{info.id} — {owner}")
    next(b for b in at.button if b.key == "api_token_revoke").click().run()
    assert not at.exception, at.exception
    assert api_tokens.list_tokens(redis_client, owner) == []
    assert next(e for e in audit.recent(redis_client, 20) if e["action"] == "api_token_revoke")["target"] == info.id
    with pytest.raises(api_tokens.TokenRefused):
        api_tokens.identify(redis_client, get_settings(), shown[0])


def test_a_viewer_sees_no_token_section(monkeypatch, redis_client):
    monkeypatch.setattr(get_settings(), "CONSOLE_AUTH", "accounts")
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state[SESSION_KEY] = Identity("someone", Role.VIEWER, "", "accounts", time.time())
    at.run()
    assert not at.exception, at.exception
    headers = [s.value for s in at.subheader]
    assert "Audit log" in headers and "API tokens" not in headers
