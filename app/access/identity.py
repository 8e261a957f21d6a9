"""Who is acting: the identity every permission check and audit entry carries."""
from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass

from app.access.roles import Role

#: How an identity was established (`Identity.auth_method`).
AUTH_METHODS = ("none", "password", "accounts", "oidc", "proxy", "cli", "system", "token")


@dataclass(frozen=True)
class Identity:
    """A signed-in person (or the local operator when no sign-in is configured).

    Attributes:
        name: account name, e-mail (OIDC, proxy) or "local" (no sign-in configured; the console
            then listens on 127.0.0.1 only).
        role: the identity's `Role`.
        client_address: IP address the request came from ("" when unknown, e.g. the CLI).
        auth_method: one of `AUTH_METHODS`.
        signed_in_at: epoch seconds of the sign-in (0 when not applicable).
    """

    name: str
    role: Role
    client_address: str = ""
    auth_method: str = "none"
    signed_in_at: float = 0.0

    def may(self, least: Role) -> bool:
        return self.role >= least

    def as_audit(self) -> dict[str, str]:
        """The fields an audit entry stores: who, role, client, auth."""
        return {"who": self.name, "role": self.role.label, "client": self.client_address or "",
                "auth": self.auth_method}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["role"] = self.role.label
        return d

    def __str__(self) -> str:
        where = f" from {self.client_address}" if self.client_address else ""
        return f"{self.name} ({self.role.label}{where})"


def local(client_address: str = "") -> Identity:
    """The identity used when no sign-in is configured: admin on a loopback-only console."""
    return Identity("local", Role.ADMIN, client_address, "none")


def cli() -> Identity:
    """The identity of a command run on the console host (`python -m app users ...`)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Identity(f"cli:{user}", Role.ADMIN, "", "cli")


def system(name: str) -> Identity:
    """An identity for code acting on its own (tests, maintenance), named `name`, role admin."""
    return Identity(name, Role.ADMIN, "", "system")
