"""The secrets file for OpenID Connect sign-in through Streamlit's own ``st.login`` / ``st.user`` (Authlib).

Streamlit reads its OIDC client from the ``[auth]`` section of a secrets file. `write_secrets`
writes that file from our settings (DATA_DIR/secrets/streamlit_secrets.toml, mode 0600) and the
launcher points the console at it with ``STREAMLIT_SECRETS_FILES``; nobody edits TOML by hand.
The cookie secret signing Streamlit's identity cookie is OIDC_COOKIE_SECRET, or one generated once
and kept beside it (0600). Who may enter, and with which role, is decided by ACCESS_ROLES
(`app.access.signin.role_for`) on the ID token's ``email`` and groups claim (OIDC_GROUPS_CLAIM).
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from config.settings import Settings

SECRETS_FILE = Path("secrets") / "streamlit_secrets.toml"
COOKIE_SECRET_FILE = Path("secrets") / "oidc_cookie_secret"


def _private_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)


def cookie_secret(settings: Settings) -> str:
    """OIDC_COOKIE_SECRET, else a generated one kept in DATA_DIR/secrets/oidc_cookie_secret."""
    if settings.OIDC_COOKIE_SECRET is not None and settings.OIDC_COOKIE_SECRET.get_secret_value():
        return settings.OIDC_COOKIE_SECRET.get_secret_value()
    path = Path(settings.DATA_DIR) / COOKIE_SECRET_FILE
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    _private_write(path, value + "\n")
    return value


def secrets_toml(settings: Settings) -> str:
    """The ``[auth]`` section Streamlit's st.login needs, from OIDC_* settings."""
    redirect = settings.OIDC_REDIRECT_URI or f"http://localhost:{settings.PORT}/oauth2callback"
    values = {
        "redirect_uri": redirect,
        "cookie_secret": cookie_secret(settings),
        "client_id": settings.OIDC_CLIENT_ID or "",
        "client_secret": settings.OIDC_CLIENT_SECRET.get_secret_value() if settings.OIDC_CLIENT_SECRET else "",
        "server_metadata_url": settings.OIDC_SERVER_METADATA_URL or "",
    }
    lines = ["[auth]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    lines.append('client_kwargs = { scope = "openid email profile" }')
    return "\n".join(lines) + "\n"


def write_secrets(settings: Settings) -> Path:
    """Write the secrets file (0600, directory 0700); its absolute path."""
    path = (Path(settings.DATA_DIR) / SECRETS_FILE).resolve()
    _private_write(path, secrets_toml(settings))
    return path
