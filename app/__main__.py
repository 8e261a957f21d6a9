"""`python -m app` (what `make run` calls): bring up Redis, workers, beat and the console.

Processes are run by honcho (a Procfile runner); Ctrl-C stops every one of them.
"""
from __future__ import annotations

import sys

from honcho.manager import Manager
from honcho.printer import Printer

from app.launcher.processes import ROOT, plan
from config.settings import get_settings


def main() -> int:
    settings = get_settings()
    p = plan(settings, explicit_redis="REDIS_URL" in settings.model_fields_set)
    if p.errors:
        for error in p.errors:
            print(f"Cannot start: {error}", file=sys.stderr)
        return 2
    print("Celery console starting:", flush=True)
    for note in p.notes:
        print(f"  {note}", flush=True)
    print(f"  Console: {p.console_url}  (Ctrl-C stops everything)", flush=True)
    manager = Manager(Printer(sys.stdout))
    for name, cmd in p.processes.items():
        manager.add_process(name, cmd, env=p.env, cwd=str(ROOT))
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
