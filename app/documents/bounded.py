"""Run a parser in a child Python process with a wall-clock limit and an address-space limit.

Some parsers can spin or balloon on hostile input (a PDF with a circular xref chain or a stream
claiming a huge /Length). Running them in a child process means a timeout or a MemoryError ends the
child, never the worker: the worker keeps serving its queue. Works the same under Celery's prefork,
threads and solo pools (a child process, not `signal.alarm`, which only works in a main thread).

Protocol: the parent writes one JSON payload on the child's stdin; the child (``python -m
<module>``, whose ``main()`` calls `serve`) writes JSON lines on stdout:
``{"progress": [current, total, message]}`` any number of times, then one
``{"result": {...}}`` or ``{"error": {"type": <ConsoleError subclass name>, "message": str}}``.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app import errors
from app.errors import ConsoleError, CorruptFile, FileTooLarge

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run(module: str, payload: dict[str, Any], timeout_s: float, memory_limit_bytes: int,
        on_progress: Callable[[int, int, str], None] | None = None, what: str = "file") -> dict[str, Any]:
    """Run ``python -m <module>`` with `payload`; return its result dict.

    Raises:
        CorruptFile: the child ran past `timeout_s` (it is killed), crashed, or said nothing.
        FileTooLarge: the child hit `memory_limit_bytes`.
        ConsoleError subclasses the child reported (re-raised with the child's message).
    """
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
               BOUNDED_MEMORY_LIMIT_BYTES=str(int(memory_limit_bytes)))
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, env=env, cwd=str(PROJECT_ROOT))
        timed_out = threading.Event()

        def _kill():
            timed_out.set()
            proc.kill()

        timer = threading.Timer(timeout_s, _kill)
        timer.daemon = True
        timer.start()
        final: dict[str, Any] | None = None
        try:
            try:
                proc.stdin.write(json.dumps(payload).encode())
                proc.stdin.close()
            except BrokenPipeError:
                pass
            for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if "progress" in msg and on_progress:
                    on_progress(*msg["progress"])
                elif "result" in msg or "error" in msg:
                    final = msg
            proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        if timed_out.is_set():
            raise CorruptFile(f"Reading the {what} took longer than {timeout_s:g} s, so it was stopped; "
                              "the file is probably malformed. Re-save or repair it and upload it again.")
        if final is None:
            err.seek(0)
            tail = err.read()[-400:].decode("utf-8", "replace").strip().splitlines()
            if proc.returncode is not None and proc.returncode < 0:
                raise CorruptFile(f"Reading the {what} crashed its parser (signal {-proc.returncode}).")
            raise CorruptFile(f"Reading the {what} failed ({tail[-1] if tail else f'exit {proc.returncode}'}).")
    if "error" in final:
        cls = getattr(errors, final["error"].get("type", ""), None)
        if not (isinstance(cls, type) and issubclass(cls, ConsoleError)):
            cls = CorruptFile
        raise cls(final["error"].get("message", f"The {what} could not be read."))
    return final["result"]


def serve(handler: Callable[[dict[str, Any], Callable[[int, int, str], None]], dict[str, Any]]) -> None:
    """The child side: limit memory, read the payload, run `handler(payload, progress)`, report."""
    limit = int(os.environ.get("BOUNDED_MEMORY_LIMIT_BYTES", "0"))
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = sys.stdout

    def emit(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg, default=str) + "\n")
        out.flush()

    def progress(current: int, total: int, message: str = "") -> None:
        emit({"progress": [current, total, message]})

    try:
        payload = json.loads(sys.stdin.read())
        emit({"result": handler(payload, progress)})
    except ConsoleError as exc:
        emit({"error": {"type": type(exc).__name__, "message": str(exc)}})
    except MemoryError:
        emit({"error": {"type": FileTooLarge.__name__,
                        "message": f"Reading the file needs more than {limit / 1024 / 1024:,.0f} MB of memory "
                                   "(PDF_MEMORY_LIMIT_MB); it is probably malformed or hostile."}})
    except RecursionError as exc:
        emit({"error": {"type": CorruptFile.__name__, "message": f"The file is malformed (nesting too deep: {exc})."}})
    except Exception as exc:  # noqa: BLE001 - any parser failure is "cannot read this file"
        emit({"error": {"type": CorruptFile.__name__,
                        "message": f"The file could not be parsed ({type(exc).__name__}: {exc}). It may be damaged."}})
