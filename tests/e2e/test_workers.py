"""Several workers: one killed with SIGKILL (as the OOM killer does) is replaced, the service
keeps answering, the dead worker's live gauges stop counting, and the metrics folder is emptied
at exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.server import ServerProcess


def workers_of(pid: int) -> set[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    found = set()
    for child in map(int, children):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
            found.add(child)
    return found


def worker_pids_in_metrics(url: str) -> set[int]:
    text = httpx.get(f"{url}/metrics").text
    return {
        int(pid)
        for pid in re.findall(r'sentiment_worker_resident_memory_bytes\{pid="(\d+)"\}', text)
    }


def wait_until(condition, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise TimeoutError("condition not met")


def test_a_killed_worker_is_replaced_and_forgotten(serving_artifact: Path, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_12345.db").write_bytes(b"stale")  # left by an earlier run
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    process = ServerProcess(serving_artifact, tmp_path, env=env, workers=2)
    with process:
        assert process.process is not None
        first = workers_of(process.process.pid)
        assert len(first) == 2
        wait_until(lambda: worker_pids_in_metrics(process.url) == first)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(workers_of(process.process.pid) - first) == 1)
        process.wait_for(lambda r: r.status_code == 200)  # both workers ready again
        for _ in range(20):
            assert httpx.post(f"{process.url}/predict", json={"text": "good"}).status_code == 200
        now = workers_of(process.process.pid)
        wait_until(lambda: worker_pids_in_metrics(process.url) == now)
        text = httpx.get(f"{process.url}/metrics").text
        assert f'pid="{victim}"' not in text
        assert re.search(r"^sentiment_ready 1\.0$", text, re.M)
        assert not (metrics_dir / "counter_12345.db").exists()
    assert process.process.returncode == 0
    assert list(metrics_dir.iterdir()) == []


def burn_cpu(seconds: float) -> list[subprocess.Popen[bytes]]:
    """A busy loop on every CPU: a loaded machine, where the supervisor reaps late."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 2)]


def test_right_after_a_replacement_is_ready_the_dead_worker_is_gone(
    serving_artifact: Path, tmp_path: Path
) -> None:
    """/readyz says 200 only once the replacement is ready (a killed worker that the supervisor
    has not reaped yet is dead, not ready), and a scrape right then carries no series of the
    dead worker, even on a loaded machine (two kills)."""
    process = ServerProcess(serving_artifact, tmp_path, workers=2)
    burners = burn_cpu(90)
    try:
        with process:
            assert process.process is not None
            for _ in range(2):
                before = workers_of(process.process.pid)
                wait_until(lambda b=before: worker_pids_in_metrics(process.url) == b)
                # The supervisor pings the workers it started first before it looks at the
                # last one: killing that one leaves it unreaped longest.
                victim = max(before)
                os.kill(victim, signal.SIGKILL)
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:  # every 200 until the replacement reports
                    if httpx.get(f"{process.url}/readyz").status_code == 200:
                        seen = worker_pids_in_metrics(process.url)
                        assert victim not in seen
                        if len(seen - before) == 1:
                            break
                    time.sleep(0.01)
                else:
                    raise TimeoutError("the replacement worker never reported")
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
