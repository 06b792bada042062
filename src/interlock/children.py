"""Child processes that die with interlock, so a killed run leaves nothing writing into its folders.

Kept free of interlock's other modules: the pact worker imports it through its
command actions and must stay quick to start.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Any, Callable

_PR_SET_PDEATHSIG = 1


def _prctl() -> Any:
    """libc's prctl on Linux, else None (the kernel feature `die_with_interlock` needs)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def die_with_interlock() -> Callable[[], None] | None:
    """A `preexec_fn` for every long-lived child (services, setup commands, pytest, pact workers, command actions).

    On Linux the child gets SIGKILL when the thread that started it ends, even
    when interlock itself is killed with SIGKILL: a killed run must not leave a
    process writing into the staging folder a resumed run continues in. Start
    children from a thread that outlives them. Elsewhere None: the recorded
    service pids (`supervisor.Services.stop_orphans`) are then the only cleanup.
    """
    if _PRCTL is None:
        return None
    parent = os.getpid()

    def arm() -> None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # interlock died before the signal was armed: nobody would send it
            os.kill(os.getpid(), signal.SIGKILL)

    return arm
