"""The one permission check, and the audited way to do a state-changing act.

    from app.access import act
    with act(client, identity, "purge", queue) as a:    # refuses (PermissionDenied) below admin
        a.detail["removed"] = queues.purge(broker, queue)
        a.outcome = "ok"                                  # default; set another word if it half-worked

`act` checks the role (`authorize`), runs the block, and writes one audit entry with the outcome:
"ok" (or what the block set), "refused" (the block raised a ConsoleError, e.g. InvalidInput: its
message goes in ``detail.error``), "failed" (any other exception: its type goes in
``detail.error``). A refusal by role is audited as "denied" and nothing runs. Exceptions propagate.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from app.access import audit
from app.access.identity import Identity
from app.access.roles import Role, min_role
from app.errors import ConsoleError, PermissionDenied


def allowed(identity: Identity | None, action: str) -> bool:
    """True when `identity` may do `action` (no audit; for deciding which controls to show).

    Raises:
        UnknownAction: `action` is not in `app.access.roles.ACTIONS`.
    """
    return identity is not None and identity.role >= min_role(action)


def authorize(client, identity: Identity | None, action: str, target: str = "") -> None:
    """Return when `identity` may do `action`; otherwise audit the refusal and raise.

    Raises:
        PermissionDenied: no identity, or its role is below `min_role(action)` (audited "denied").
        UnknownAction: `action` is not in `ACTIONS` (nothing is audited: a programming error).
    """
    needed = min_role(action)
    if identity is not None and identity.role >= needed:
        return
    name = identity.name if identity is not None else "anonymous"
    role = identity.role.label if identity is not None else "none"
    audit.record(client, identity or Identity("anonymous", Role.VIEWER, "", "none"), action, target,
                 "denied", {"needed": needed.label, **({} if identity else {"role": "none"})})
    raise PermissionDenied(f"{name} ({role}) may not {action.replace('_', ' ')}: that needs the "
                           f"{needed.label} role or higher. Ask an admin to change your role.",
                           action=action, needed=needed.label, role=role)


@dataclass
class Act:
    """What the block of `act` reports: its outcome word and details for the audit entry."""

    outcome: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)


@contextmanager
def act(client, identity: Identity | None, action: str, target: str = "",
        detail: dict[str, Any] | None = None) -> Iterator[Act]:
    """Authorize, run the block, audit its outcome (see the module docstring).

    Raises:
        PermissionDenied: as `authorize`; the block does not run.
        Whatever the block raises (after it is audited as "refused" or "failed").
    """
    authorize(client, identity, action, target)
    a = Act(detail=dict(detail or {}))
    try:
        yield a
    except ConsoleError as exc:
        audit.record(client, identity, action, target, "refused", {**a.detail, "error": str(exc)[:500]})
        raise
    except Exception as exc:
        audit.record(client, identity, action, target, "failed", {**a.detail, "error": type(exc).__name__})
        raise
    audit.record(client, identity, action, target, a.outcome, a.detail)
