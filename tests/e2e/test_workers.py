"""Several workers: one killed with SIGKILL (as the OOM killer does) is replaced, the service
keeps answering, the dead worker's live gauges stop counting, and the metrics folder is emptied
at exit."""

from __future__ import annotations

import os
import re
import signal
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
