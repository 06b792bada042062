"""children.die_with_interlock: a child started with it dies when interlock is killed, even by SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

from interlock.children import die_with_interlock

#: A stand-in for interlock: starts a long-lived child the way interlock does, prints its pid, then waits.
PARENT = """
import subprocess, sys, time
from interlock.children import die_with_interlock
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=die_with_interlock())
print(child.pid, flush=True)
time.sleep(60)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_child_dies_when_interlock_is_killed_with_sigkill() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not _gone(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid), "the child outlived interlock"
    finally:
        parent.kill()
        parent.wait()


def test_on_linux_it_is_a_preexec_fn_and_elsewhere_none() -> None:
    arm = die_with_interlock()
    assert callable(arm) if sys.platform.startswith("linux") else arm is None
