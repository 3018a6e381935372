"""Start-up, readiness, overload, deadlines, API keys and graceful shutdown of the real server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ROOT, ServerProcess
from tests.faulty import broken_artifact

LONG = "the plot was superb and the acting moving " * 120  # ~1,000 tokens: the artifact's limit
KEY = "k" * 24


def test_not_ready_until_warmed_up(serving_artifact: Path, tmp_path: Path) -> None:
    # 30 rounds keep it loading for about 2 s on CI's CPU, 100 times what the checks below take.
    process = ServerProcess(serving_artifact, tmp_path, warmup_rounds=30).start(wait_ready=False)
    try:
        loading = process.wait_for(lambda r: r.status_code == 503)
        assert loading.json() == {"status": "loading"} and loading.headers["retry-after"] == "1"
        early = httpx.post(f"{process.url}/predict", json={"text": "good"})
        assert early.status_code == 503 and early.json()["error"] == "not_ready"
        assert httpx.get(f"{process.url}/healthz").status_code == 200  # alive while loading
        process.wait_for(lambda r: r.status_code == 200)
        assert httpx.post(f"{process.url}/predict", json={"text": "good"}).status_code == 200
    finally:
        process.stop()


def test_a_model_that_fails_its_checks_stops_the_worker_and_says_why(
    serving_artifact: Path, tmp_path: Path
) -> None:
    """Warm-up and checks run after the port is open: a failure there fails the probes with the
    reason and stops the process, never leaving it "loading" for ever."""
    broken = broken_artifact(serving_artifact, tmp_path / "nan", "nan")
    process = ServerProcess(broken, tmp_path).start(wait_ready=False)
    try:
        health = process.wait_for_health(lambda r: r.status_code == 503)
        code = process.process.wait(30)
    finally:
        process.stop()
    assert code == 1
    assert "not a probability" in health.json()["reason"]
    logs = process.logs()
    assert "start-up failed" in logs and "not a probability" in logs, logs


def test_with_workers_a_failed_check_stops_the_service_instead_of_a_restart_loop(
    serving_artifact: Path, tmp_path: Path
) -> None:
    """uvicorn's supervisor would replace a worker that stops, for ever; one that could not
    start stops the whole service, which says why and exits non-zero."""
    broken = broken_artifact(serving_artifact, tmp_path / "nan", "nan")
    process = ServerProcess(broken, tmp_path, workers=2).start(wait_ready=False)
    try:
        code = process.process.wait(90)
    finally:
        process.stop()
    logs = process.logs()
    assert code == 1, logs
    assert "sentiment-serve: start-up failed" in logs and "not a probability" in logs
    assert logs.count("Started server process") <= 2  # no replacement was started


def test_a_server_that_never_gets_ready_is_stopped_by_its_fixture(
    serving_artifact: Path, tmp_path: Path
) -> None:
    process = ServerProcess(serving_artifact, tmp_path, warmup_rounds=10_000)
    with pytest.raises(TimeoutError, match="not ready"):
        process.start(timeout=1)
    assert process.process is not None and process.process.poll() is not None


async def test_overload_gets_503_with_retry_after_and_health_stays_prompt(
    serving_artifact: Path, tmp_path: Path
) -> None:
    settings = {"queue_capacity": 4, "max_texts": 4, "max_batch_size": 4}
    with ServerProcess(serving_artifact, tmp_path, **settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            flood = [client.post("/predict", json={"texts": [LONG] * 4}) for _ in range(40)]
            health = [_timed(client.get("/healthz")) for _ in range(5)]
            metrics = [_timed(client.get("/metrics")) for _ in range(5)]
            results = await asyncio.gather(*flood, *health, *metrics)
        answers = results[:40]
        statuses = sorted(r.status_code for r in answers)
        assert set(statuses) == {200, 503} and statuses.count(503) >= 10, statuses
        rejected = next(r for r in answers if r.status_code == 503)
        assert rejected.headers["retry-after"] == "1" and rejected.json()["error"] == "overloaded"
        assert all(r.status_code == 200 and seconds < 1.0 for r, seconds in results[40:])
        assert httpx.get(f"{server.url}/readyz").status_code == 200


async def _timed(request) -> tuple[httpx.Response, float]:  # noqa: ANN001
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


async def test_waiting_past_the_deadline_gets_504(serving_artifact: Path, tmp_path: Path) -> None:
    with ServerProcess(
        serving_artifact, tmp_path, request_timeout_s=0.05, max_batch_size=8
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            results = await asyncio.gather(
                *(client.post("/predict", json={"texts": [LONG] * 32}) for _ in range(4))
            )
        late = [r for r in results if r.status_code == 504]
        assert late and late[0].json()["error"] == "timeout"
        assert all(r.status_code in (200, 504) for r in results)


def test_api_keys_guard_predict_and_model_only(serving_artifact: Path, tmp_path: Path) -> None:
    with ServerProcess(serving_artifact, tmp_path, api_keys=f"{'x' * 20},{KEY}") as server:
        url = server.url
        for route, call in (
            ("/predict", lambda h: httpx.post(f"{url}/predict", json={"text": "good"}, headers=h)),
            ("/model", lambda h: httpx.get(f"{url}/model", headers=h)),
        ):
            missing, wrong = call({}), call({"Authorization": "Bearer " + "y" * 24})
            assert missing.status_code == wrong.status_code == 401, route
            assert (
                missing.headers["www-authenticate"] == "Bearer"
                and missing.json()["error"] == "unauthorized"
            )
            assert call({"Authorization": f"Bearer {KEY}"}).status_code == 200, route
            assert call({"Authorization": f"Basic {KEY}"}).status_code == 401, route
        for route in ("/healthz", "/readyz", "/metrics"):
            assert httpx.get(f"{url}{route}").status_code == 200
    assert KEY not in server.logs()


async def test_sigterm_finishes_requests_in_flight_then_exits_0(
    serving_artifact: Path, tmp_path: Path
) -> None:
    server = ServerProcess(serving_artifact, tmp_path, max_batch_size=4).start()
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        in_flight = [
            asyncio.ensure_future(client.post("/predict", json={"texts": [LONG] * 64}))
            for _ in range(6)
        ]
        while _queue_depth(server) < 64:  # wait until the requests are in, most of them queued
            await asyncio.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        assert not all(f.done() for f in in_flight)
        results = await asyncio.gather(*in_flight)
    assert [r.status_code for r in results] == [200] * 6
    assert all(len(r.json()["predictions"]) == 64 for r in results)
    assert server.process.wait(30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/healthz")


def _queue_depth(server: ServerProcess) -> float:
    text = httpx.get(f"{server.url}/metrics").text
    return next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("sentiment_queue_depth ")
    )


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"SENTIMENT_MAX_BATCH_SIZE": "0"}, "SENTIMENT_MAX_BATCH_SIZE / --max-batch-size"),
        ({"SENTIMENT_DEVICE": "tpu"}, "SENTIMENT_DEVICE"),
        ({"SENTIMENT_MODEL": "/no/such/artifact"}, "not an artifact directory"),
        ({"SENTIMENT_API_KEYS": "short"}, "at least 16 characters"),
    ],
)
def test_bad_settings_stop_start_up_with_a_message(env: dict[str, str], words: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr


def test_an_artifact_missing_a_file_stops_start_up(serving_artifact: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model.pt", "metadata.json"):
        (broken / name).write_bytes((serving_artifact / name).read_bytes())
    result = subprocess.run(
        [sys.executable, "-m", "service", "--model", str(broken)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "missing vocab.json" in result.stderr
