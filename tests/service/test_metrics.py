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
