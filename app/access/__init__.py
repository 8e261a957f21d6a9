"""Access control: identities, roles, the one permission check and the audit log.

- `roles`     — `Role` (viewer < operator < admin) and `ACTIONS`, the table action -> least role.
- `identity`  — `Identity(name, role, client_address, auth_method)`.
- `check`     — `authorize(client, identity, action, target)` and `act(...)`, the audited way to
                do any state-changing thing (raises `app.errors.PermissionDenied`).
- `audit`     — the append-only audit log (Redis stream), filter and CSV/JSON export.
- `accounts`  — built-in accounts (argon2id hashes in Redis); `signin` — password sign-in with
                throttling; `startup` — the start-up refusals (bind address, empty password).
- `sessions`  — browser sessions: created at sign-in, validated on every page run, ended one at a
                time or all of a person's at once.

Every Redis read and write goes through `app.store` (`accounts`, `audit`, `sessions`,
`signin_throttle`); nothing here imports redis.

Streamlit pages get the signed-in identity from `app.ui.auth.identity()` and submit tasks with
`app.ui.access.submit`.
"""
from app.access.check import Act, act, allowed, authorize
from app.access.identity import Identity
from app.access.roles import ACTIONS, Role

__all__ = ["ACTIONS", "Act", "Identity", "Role", "act", "allowed", "authorize"]
