"""Tie a child process's life to its parent's: the kernel signals the child when the parent dies.

Linux's ``prctl(PR_SET_PDEATHSIG, sig)`` (prctl(2)): when the thread that started the child exits —
also when the parent is killed with SIGKILL and can run no clean-up — the child gets `sig`. Used for
supervisord, so a launcher killed with SIGKILL takes supervisord, and through supervisord's own
orderly stop every program, with it. Elsewhere (macOS) it is a no-op: the launcher's signal
handlers still stop supervisord on SIGINT/SIGTERM.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

#: prctl(2) option number, from <linux/prctl.h>.
PR_SET_PDEATHSIG = 1


def preexec(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `subprocess.Popen(preexec_fn=...)` that asks for `sig` when this process dies, or None off
    Linux. If this process is already gone when the child runs it, the child sends `sig` to itself.
    Start the child before starting other threads (preexec_fn is not safe beside running threads)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()

    def _arm() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died between fork and prctl
            os.kill(os.getpid(), sig)

    return _arm
