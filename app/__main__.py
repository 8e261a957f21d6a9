"""`python -m app` (what `make run` calls): bring up Redis, workers, beat and the console.

Commands: none (or ``run``) starts the stack; ``users ...`` manages console accounts
(`app.access.cli`); ``tokens ...`` manages people's HTTP API tokens (`app.access.token_cli`). Anything else prints the usage and exits with status 2, before anything starts.

Processes are run by supervisord (app/launcher/supervise.py): a process that exits is restarted,
the rest keep running; Ctrl-C stops them in stages (console and beat, then workers with a warm
shutdown, Redis last).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    """The command line: an optional command; each command parses its own arguments."""
    p = argparse.ArgumentParser(prog="python -m app", description="The Celery operator console.")
    commands = p.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="start Redis, workers, beat and the console under supervisord (the default)")
    commands.add_parser("users", help="manage console accounts: add NAME --role R | list | remove NAME | "
                                      "passwd NAME [--role R]", add_help=False)
    commands.add_parser("tokens", help="HTTP API tokens: add NAME [--role R] [--expires 30d] | list [NAME] | "
                                       "revoke NAME|TOKEN_ID", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command in `argv` (default: sys.argv[1:]); returns the exit status (2: unknown command
    or refused start)."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv[:1])  # an unknown command or option: usage on stderr, SystemExit(2)
    if args.command == "users":  # python -m app users add|list|remove|passwd ...
        from app.access import cli

        return cli.main(argv[1:])
    if args.command == "tokens":  # python -m app tokens add|list|revoke ...
        from app.access import token_cli

        return token_cli.main(argv[1:])
    if argv[1:]:
        parser().error(f"unexpected arguments after 'run': {' '.join(argv[1:])}")
    return run()


def run() -> int:
    from app.access import startup
    from app.launcher import supervise
    from app.launcher.processes import plan
    from app.monitor import apps as monitored_apps
    from config.settings import get_settings

    settings = get_settings()
    if startup.refused(startup.problems(settings)):
        return 2
    p = plan(settings, explicit_redis="REDIS_URL" in settings.model_fields_set)
    monitored_apps.add_to_plan(settings, p)  # one line per app, one event ingester per app
    if startup.refused(p.errors):
        return 2
    print("Celery console starting:", flush=True)
    for note in p.notes:
        print(f"  {note}", flush=True)
    print(f"  Console: {p.console_url}  (Ctrl-C stops everything)", flush=True)
    return supervise.run(p, Path(p.env["DATA_DIR"]), settings.WORKER_STOP_WAIT_S)


if __name__ == "__main__":
    sys.exit(main())
