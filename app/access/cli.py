"""`python -m app users ...`: manage the built-in accounts from the console host.

    python -m app users add NAME --role admin|operator|viewer
    python -m app users passwd NAME [--role ROLE]
    python -m app users remove NAME
    python -m app users list
    python -m app users sessions NAME      the person's live sessions (sign-in time, address, expiry)
    python -m app users logout NAME        end every session of NAME at once (audited)

The password is read from a prompt (asked twice) on a terminal, or as the first line of standard
input otherwise, so scripts can do ``printf '%s\\n' "$PW" | python -m app users add ann --role viewer``.
It is never taken from the command line (it would show in `ps` and shell history).

Accounts live in the console's Redis: REDIS_URL when it is set (or the result backend), else the
embedded server that `make run` starts (it must be running). Changes are audited as ``cli:<login>``.
Exit status: 0 done, 1 refused (bad input, Redis not answering), 2 usage error.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime, timezone

from app.access import accounts, sessions
from app.access import identity as identities
from app.access.roles import names
from app.errors import ConsoleError


def _redis_url(settings) -> str:
    from app.launcher import redis_server

    if "REDIS_URL" in settings.model_fields_set or "CELERY_RESULT_BACKEND" in settings.model_fields_set:
        return settings.result_backend
    return redis_server.embedded_url(settings.REDIS_EMBEDDED_PORT, redis_server.embedded_password(settings.DATA_DIR))


def _client(settings):
    from app.launcher import redis_server
    from app.store.clients import redis_from_url

    url = _redis_url(settings)
    if not redis_server.answers(url):
        raise ConsoleError(f"Redis at {url.split('@')[-1]} does not answer: start the console first "
                           f"(make run), or set REDIS_URL to the console's Redis.")
    return redis_from_url(url)


def read_password(stdin=None, confirm: bool = True) -> str:
    """The new password: prompted (twice) on a terminal, else the first line of standard input.

    Raises:
        ConsoleError: the two prompted entries differ, or standard input is empty.
    """
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Repeat password: ") != first:
            raise ConsoleError("The passwords differ; nothing changed.")
        return first
    line = stdin.readline()
    if not line:
        raise ConsoleError("No password on standard input; nothing changed.")
    return line.rstrip("\r\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app users", description="Manage the console's built-in accounts.")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account (password from a prompt or standard input)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=names())
    passwd = sub.add_parser("passwd", help="set a new password (and optionally a new role)")
    passwd.add_argument("name")
    passwd.add_argument("--role", choices=names())
    remove = sub.add_parser("remove", help="delete an account")
    remove.add_argument("name")
    sub.add_parser("list", help="list accounts with their roles")
    sess = sub.add_parser("sessions", help="list the live sessions of a person")
    sess.add_argument("name")
    logout = sub.add_parser("logout", help="end every session of a person")
    logout.add_argument("name")
    return p


def main(argv: list[str], stdin=None, out=None) -> int:
    """Run one `users` command; returns the exit status."""
    from config.settings import get_settings

    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    who = identities.cli()
    try:
        client = _client(get_settings())
        if args.command == "list":
            rows = accounts.list_accounts(client)
            if not rows:
                print("No accounts. Create one: python -m app users add NAME --role admin", file=out)
            for a in rows:
                changed = datetime.fromtimestamp(a.updated_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                print(f"{a.name}\t{a.role.label}\tchanged {changed}", file=out)
        elif args.command == "sessions":
            rows = sessions.list_for(client, args.name)
            if not rows:
                print(f"No live sessions of {args.name}.", file=out)
            for r in rows:
                since = datetime.fromtimestamp(r["signed_in_at"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                print(f"{r['sha'][:12]}\t{r['auth']}\tsigned in {since}\tfrom {r['client'] or '?'}\t"
                      f"ends in {r['expires_in_s'] // 60} min", file=out)
        elif args.command == "logout":
            n = sessions.end_sessions_of(client, who, args.name)
            print(f"Ended {n} session(s) of {args.name}.", file=out)
        elif args.command == "remove":
            accounts.remove(client, who, args.name)
            print(f"Removed {args.name}.", file=out)
        elif args.command == "add":
            acc = accounts.add(client, who, args.name, args.role, read_password(stdin))
            print(f"Added {acc.name} ({acc.role.label}).", file=out)
        else:
            acc = accounts.set_password(client, who, args.name, read_password(stdin), role=args.role)
            print(f"Changed the password of {acc.name} ({acc.role.label}).", file=out)
    except ConsoleError as exc:
        print(f"Refused: {exc}", file=sys.stderr)
        return 1
    return 0
