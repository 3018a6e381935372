"""Multiprocess metrics: a worker that is dead, zombies included, no longer counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from service import metrics


def test_a_killed_worker_not_yet_reaped_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert metrics.alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # dead, but not waited for: a zombie
            with open(f"/proc/{child.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.01)
        os.kill(child.pid, 0)  # what the old check asked: the kernel still knows the pid
        assert not metrics.alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not metrics.alive(child.pid)  # reaped: gone altogether
    assert metrics.alive(os.getpid())


def test_a_worker_is_dead_from_the_moment_it_is_killed() -> None:
    """Freeing a large process's memory keeps it in state R for tens of milliseconds after
    SIGKILL (60-80 ms for a worker on a loaded machine): /readyz counted it ready then, and /metrics
    kept its series, beside its replacement. The kill is pending before os.kill returns."""
    code = "import sys, time\nb = b'x' * (1 << 30)\nprint(flush=True)\ntime.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        child.stdout.readline()  # its gigabyte is allocated and touched
        assert metrics.alive(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        assert not metrics.alive(child.pid)
    finally:
        child.kill()
        child.wait()
