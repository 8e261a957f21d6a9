"""`python -m app tokens ...`: HTTP API tokens of people, from the console host.

    python -m app tokens add NAME [--role R] [--expires 30d]   prints the token once
    python -m app tokens list [NAME]
    python -m app tokens revoke NAME|TOKEN_ID                  a name revokes all of that person's

A token acts as NAME with at most NAME's current role (`app.access.api_tokens`). Changes are audited
as ``cli:<login>``; Redis is found as for ``python -m app users`` (`app.access.cli`).
Exit status: 0 done, 1 refused (bad input, Redis not answering), 2 usage error.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from app.access import api_tokens
from app.access import identity as identities
from app.access.roles import names
from app.errors import ConsoleError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app tokens", description="HTTP API tokens of people.")
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="issue a token for NAME (printed once)")
    add.add_argument("name")
    add.add_argument("--role", choices=names(), help="at most NAME's role (default: NAME's role)")
    add.add_argument("--expires", default="", help="lifetime such as 30d, 12h, 2w (default: never)")
    lst = sub.add_parser("list", help="list live tokens (of NAME)")
    lst.add_argument("name", nargs="?")
    rev = sub.add_parser("revoke", help="revoke one token by id, or every token of NAME")
    rev.add_argument("target", metavar="NAME|TOKEN_ID")
    return p


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if epoch else "never"


def main(argv: list[str], out=None) -> int:
    """Run one `tokens` command; returns the exit status."""
    from app.access.cli import _client
    from config.settings import get_settings

    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    who = identities.cli()
    try:
        settings = get_settings()
        client = _client(settings)
        if args.command == "add":
            token, info = api_tokens.issue(client, settings, who, args.name, args.role, args.expires)
            print(token, file=out)
            print(f"Token {info.id} for {info.owner} ({info.role}), expires {_when(info.expires_at)}. "
                  f"Shown once: store it now.", file=sys.stderr)
        elif args.command == "list":
            rows = api_tokens.list_tokens(client, args.name)
            if not rows:
                print(f"No tokens. Issue one: python -m app tokens add {args.name or 'NAME'}", file=out)
            for t in rows:
                print(f"{t.id}\t{t.owner}\t{t.role}\tcreated {_when(t.created_at)}\texpires {_when(t.expires_at)}",
                      file=out)
        else:
            n = api_tokens.revoke(client, who, args.target)
            print(f"Revoked {n} token(s).", file=out)
    except ConsoleError as exc:
        print(f"Refused: {exc}", file=sys.stderr)
        return 1
    return 0
