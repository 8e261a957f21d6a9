"""`python -m app` (what `make run` calls): bring up Redis, workers, beat and the console.

Processes are run by supervisord (app/launcher/supervise.py): a process that exits is restarted,
the rest keep running; Ctrl-C stops them in stages (console and beat, then workers with a warm
shutdown, Redis last).
"""
from __future__ import annotations

import sys
from pathlib import Path

from app.access import startup
from app.launcher import supervise
from app.launcher.processes import plan
from app.monitor import apps as monitored_apps
from config.settings import get_settings


def main() -> int:
    if sys.argv[1:2] == ["users"]:  # python -m app users add|list|remove|passwd ...
        from app.access import cli

        return cli.main(sys.argv[2:])
    settings = get_settings()
    refusals = startup.problems(settings)
    if refusals:
        for refusal in refusals:
            print(f"Cannot start: {refusal}", file=sys.stderr)
        return 2
    p = plan(settings, explicit_redis="REDIS_URL" in settings.model_fields_set)
    monitored_apps.add_to_plan(settings, p)  # one line per app, one event ingester per app
    if p.errors:
        for error in p.errors:
            print(f"Cannot start: {error}", file=sys.stderr)
        return 2
    print("Celery console starting:", flush=True)
    for note in p.notes:
        print(f"  {note}", flush=True)
    print(f"  Console: {p.console_url}  (Ctrl-C stops everything)", flush=True)
    return supervise.run(p, Path(p.env["DATA_DIR"]), settings.WORKER_STOP_WAIT_S)


if __name__ == "__main__":
    sys.exit(main())
