"""Start-up refusals: settings that would expose the console, or cannot work, stop `python -m app`
(and the console page) with a message naming the setting to change.

Rules: with no sign-in configured, the console (CONSOLE_ADDRESS), the HTTP API (API_ADDRESS) and the
metrics endpoint (METRICS_LOCAL_ONLY) stay on the loopback interface; an empty CONSOLE_PASSWORD is
refused, not taken as "no password"; each sign-in mode has the settings it needs.
"""
from __future__ import annotations

import ipaddress
import sys

from config.settings import Settings

MODES = ("none", "accounts", "oidc", "proxy")


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    address = address.strip().strip("[]")
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def proxy_networks(spec: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """PROXY_TRUSTED_ADDRESSES ("10.0.0.5, 10.1.0.0/16") as networks.

    Raises:
        ValueError: an entry is not an address or network.
    """
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]


def problems(settings: Settings) -> list[str]:
    """Every reason the console must not start with `settings` (empty when it may)."""
    out: list[str] = []
    mode = settings.auth_mode
    if mode not in MODES:
        out.append(f"CONSOLE_AUTH={settings.CONSOLE_AUTH!r} is not one of {', '.join(MODES)}.")
        return out
    if settings.CONSOLE_PASSWORD is not None and not settings.CONSOLE_PASSWORD.get_secret_value().strip():
        out.append("CONSOLE_PASSWORD is set but empty: set a password, or remove the setting and use "
                   "CONSOLE_AUTH=accounts (python -m app users add NAME --role admin).")
    if mode == "none":
        if not is_loopback(settings.CONSOLE_ADDRESS):
            out.append(f"CONSOLE_ADDRESS={settings.CONSOLE_ADDRESS} would open the console to the network "
                       f"without sign-in: set CONSOLE_AUTH (accounts, oidc or proxy) or CONSOLE_PASSWORD, "
                       f"or keep CONSOLE_ADDRESS=127.0.0.1.")
        if not is_loopback(settings.API_ADDRESS):
            out.append(f"API_ADDRESS={settings.API_ADDRESS} would open the HTTP API to the network without "
                       f"sign-in configured: set CONSOLE_AUTH (accounts, oidc or proxy) or CONSOLE_PASSWORD, "
                       f"or keep API_ADDRESS=127.0.0.1.")
        if not settings.METRICS_LOCAL_ONLY:
            out.append("METRICS_LOCAL_ONLY=false would open the metrics endpoint to the network without "
                       "sign-in configured: set CONSOLE_AUTH (or CONSOLE_PASSWORD), or keep "
                       "METRICS_LOCAL_ONLY=true.")
    if mode == "oidc":
        for name in ("OIDC_SERVER_METADATA_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
            if not getattr(settings, name):
                out.append(f"CONSOLE_AUTH=oidc needs {name}.")
    if mode in ("oidc", "proxy") and not settings.ACCESS_ROLES:
        out.append(f"CONSOLE_AUTH={mode} needs ACCESS_ROLES, e.g. "
                   '\'{"admin": ["alice@example.com"], "operator": ["*@example.com"]}\'; '
                   "nobody could sign in otherwise.")
    if mode == "proxy":
        try:
            if not proxy_networks(settings.PROXY_TRUSTED_ADDRESSES):
                out.append("CONSOLE_AUTH=proxy needs PROXY_TRUSTED_ADDRESSES (the reverse proxy's "
                           "addresses); the identity header is taken only from them.")
        except ValueError as exc:
            out.append(f"PROXY_TRUSTED_ADDRESSES: {exc}.")
    from app.access.roles import InvalidRole, Role

    for role in settings.ACCESS_ROLES:
        try:
            Role.parse(role)
        except InvalidRole as exc:
            out.append(f"ACCESS_ROLES: {exc}")
    return out


def refused(reasons: list[str], what: str = "") -> bool:
    """Print each of `reasons` to stderr as "Cannot start{what}: reason"; True when there was any
    (the caller then exits with status 2)."""
    for reason in reasons:
        print(f"Cannot start{what}: {reason}", file=sys.stderr)
    return bool(reasons)
