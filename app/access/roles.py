"""Roles and the table of state-changing actions with the least role that may do each.

Three roles, each including the one below it: viewer (read-only) < operator (submit tasks on every
page, revoke/retry/terminate/abort one task, run a schedule now, cancel a scheduled e-mail) < admin
(purge, bulk actions, pool/consumer/rate-limit/time-limit changes, worker shutdown, schedule
create/edit/enable/disable/delete, user and API token management).

Adding a state-changing action anywhere in the console: add its name here, then run it through
`app.access.act` (or `app.ui.access.submit` for a task submit). An action missing from `ACTIONS` is
refused for everyone (`UnknownAction`), so a forgotten entry fails closed, not open.
"""
from __future__ import annotations

from enum import IntEnum
from types import MappingProxyType

from app.errors import ConsoleError, InvalidInput


class Role(IntEnum):
    """A console role; a higher value includes every right of the lower ones."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        """`Role` from its name ("viewer", "operator", "admin"; any case).

        Raises:
            InvalidRole: any other name.
        """
        try:
            return cls[str(name).strip().upper()]
        except KeyError:
            raise InvalidRole(f"Unknown role {name!r}: use one of {', '.join(names())}.") from None

    @property
    def label(self) -> str:
        return self.name.lower()


class InvalidRole(InvalidInput, ValueError):
    """Raised when a role name is not viewer, operator or admin."""


class UnknownAction(ConsoleError):
    """Raised when code asks about an action that is not in `ACTIONS` (a programming error)."""


def names() -> list[str]:
    """Role names, least first: ["viewer", "operator", "admin"]."""
    return [r.label for r in Role]


#: action name -> least role allowed to do it (read-only). Names are what the audit log shows.
ACTIONS: MappingProxyType[str, Role] = MappingProxyType({
    # operator: one task at a time, task submits on every page, schedule run now
    "submit": Role.OPERATOR,
    "upload": Role.OPERATOR,
    "revoke": Role.OPERATOR,
    "terminate": Role.OPERATOR,
    "retry": Role.OPERATOR,
    "schedule_run_now": Role.OPERATOR,
    "email_cancel": Role.OPERATOR,
    "workflow_save": Role.OPERATOR,
    "workflow_delete": Role.OPERATOR,
    "abort": Role.OPERATOR,
    # admin: many tasks at once, workers and queues, schedule changes, users
    "bulk_revoke": Role.ADMIN,
    "bulk_terminate": Role.ADMIN,
    "bulk_retry": Role.ADMIN,
    "purge": Role.ADMIN,
    "rate_limit": Role.ADMIN,
    "pool_grow": Role.ADMIN,
    "pool_shrink": Role.ADMIN,
    "add_consumer": Role.ADMIN,
    "cancel_consumer": Role.ADMIN,
    "time_limit": Role.ADMIN,
    "pool_autoscale": Role.ADMIN,
    "pool_restart": Role.ADMIN,
    "worker_shutdown": Role.ADMIN,
    "schedule_create": Role.ADMIN,
    "schedule_edit": Role.ADMIN,
    "schedule_enable": Role.ADMIN,
    "schedule_disable": Role.ADMIN,
    "schedule_delete": Role.ADMIN,
    # queue pause/resume, retry a failure group, alert rules and test alerts
    "queue_pause": Role.ADMIN,
    "queue_resume": Role.ADMIN,
    "retry_group": Role.ADMIN,
    "alert_rule_save": Role.ADMIN,
    "alert_rule_delete": Role.ADMIN,
    "alert_test": Role.ADMIN,
    "user_add": Role.ADMIN,
    "user_remove": Role.ADMIN,
    "user_passwd": Role.ADMIN,
    "user_role": Role.ADMIN,
    "user_sessions_end": Role.ADMIN,
    "api_token_add": Role.ADMIN,
    "api_token_revoke": Role.ADMIN,
})

#: Events that are audited but need no role (they happen before or around a session).
EVENTS = frozenset({"sign_in", "sign_in_failed", "sign_out", "sign_out_everywhere", "session_expired",
                    "session_ended"})


def min_role(action: str) -> Role:
    """The least role that may do `action`.

    Raises:
        UnknownAction: `action` is not in `ACTIONS`.
    """
    try:
        return ACTIONS[action]
    except KeyError:
        raise UnknownAction(f"Action {action!r} is not in app.access.roles.ACTIONS; add it there "
                            f"with the least role that may do it.") from None
