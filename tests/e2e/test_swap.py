"""Changing the model of the running server: swaps under load drop nothing, every response
names the model that scored it, failures leave the old model serving, a shadow candidate is
measured on live traffic, and the admin routes are safe."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from model.artifact import PROGRAM
from tests.e2e.server import ServerProcess
from tests.e2e.test_workers import workers_of
from tests.faulty import broken_artifact
from tests.legacy import forward_only_artifact

KEY = "an-admin-key-0123456789"
ADMIN = {"Authorization": f"Bearer {KEY}"}
GOOD = "a wonderful superb film"


@pytest.fixture(scope="module")
def root(
    serving_artifact: Path, tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A model root with two good artifacts (with their own vocabulary and text configuration)
    and broken ones, and a folder outside it."""
    base = tmp_path_factory.mktemp("swap")
    root = base / "models"
    shutil.copytree(serving_artifact, root / "a")
    shutil.copytree(tiny_artifact, root / "b")
    forward_only_artifact(tiny_artifact, root / "c")  # the same scores as b, another version
    shutil.copytree(tiny_artifact, root / "corrupt")
    with (root / "corrupt" / PROGRAM).open("ab") as f:
        f.write(b"junk")
    broken_artifact(tiny_artifact, root / "nan", "nan")
    shutil.copytree(tiny_artifact, base / "outside")
    (root / "escape").symlink_to(base / "outside")
    return root


def version_of(path: Path) -> str:
    import json

    return json.loads((path / "metadata.json").read_text())["model_version"]


def admin_server(root: Path, logs: Path, **settings: object) -> ServerProcess:
    defaults = {"model": root / "a", "model_root": root, "admin_keys": KEY, "dtype": "fp32"}
    return ServerProcess(root / "a", logs, **{**defaults, **settings})


@pytest.mark.parallel
def test_admin_is_off_without_admin_keys(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/admin/model", json={"path": "x"})
    assert r.status_code == 404 and r.json()["error"] == "admin_off"


@pytest.mark.parallel
def test_swap_rollback_confirm_and_what_the_responses_say(root: Path, tmp_path: Path) -> None:
    a, b = version_of(root / "a"), version_of(root / "b")
    with admin_server(root, tmp_path, api_keys="an-api-key-000000000000") as s:
        api = {"Authorization": "Bearer an-api-key-000000000000"}
        assert (
            httpx.post(f"{s.url}/admin/model", json={"path": "b"}, headers=api).status_code == 401
        )
        r = httpx.post(f"{s.url}/admin/model", json={"path": "b"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["models"]["serving"]["version"] == b
        assert r.json()["models"]["previous"]["version"] == a
        p = httpx.post(f"{s.url}/predict", json={"texts": [GOOD, "dull"]}, headers=api)
        assert p.json()["model_version"] == b and p.headers["x-model-version"] == b
        e = httpx.post(f"{s.url}/explain", json={"text": GOOD}, headers=api)  # explanations too
        assert e.status_code == 200 and e.headers["x-model-version"] == b
        info = httpx.get(f"{s.url}/model", headers=api).json()
        assert info["model_version"] == b and info["serving"]["models"]["workers"]
        assert httpx.get(f"{s.url}/readyz").json()["versions"] == {str(s.process.pid): b}

        r = httpx.post(f"{s.url}/admin/model/rollback", headers=ADMIN)  # instant: still loaded
        assert r.status_code == 200 and r.json()["models"]["serving"]["version"] == a
        assert (
            httpx.post(f"{s.url}/predict", json={"text": GOOD}, headers=api).json()["model_version"]
            == a
        )
        assert httpx.post(f"{s.url}/admin/model/confirm", headers=ADMIN).status_code == 200
        r = httpx.post(f"{s.url}/admin/model/rollback", headers=ADMIN)
        assert r.status_code == 409 and "no previous model" in r.json()["message"]
        metrics = httpx.get(f"{s.url}/metrics").text
        assert f'sentiment_model_info{{device="cpu",dtype="fp32",version="{a}"}} 1.0' in metrics
        assert f'version="{b}"}} 1.0' not in metrics.split("sentiment_model_info", 1)[1][:400]
    assert "admin swap by key:" in s.logs() and KEY not in s.logs()


@pytest.fixture(scope="module")
def refusing(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One admin server for every refusal: each refused swap must leave model a serving, so the
    refusals that come before a case are part of what it checks."""
    with admin_server(root, tmp_path_factory.mktemp("logs")) as s:
        yield s


@pytest.mark.parallel
@pytest.mark.parametrize(
    ("path", "status", "cause"),
    [
        ("../outside", 403, "outside the model root"),
        ("escape", 403, "outside the model root"),
        ("/etc", 403, "outside the model root"),
        ("missing", 422, "not an artifact directory"),
        ("corrupt", 422, "SHA-256 does not match"),
        ("nan", 422, "not a probability"),
    ],
)
def test_a_refused_model_leaves_the_old_one_serving(
    refusing: ServerProcess, root: Path, path: str, status: int, cause: str
) -> None:
    r = httpx.post(f"{refusing.url}/admin/model", json={"path": path}, headers=ADMIN)
    assert r.status_code == status and cause in r.json()["message"], r.text
    p = httpx.post(f"{refusing.url}/predict", json={"text": GOOD})
    assert p.status_code == 200 and p.json()["model_version"] == version_of(root / "a")
    info = httpx.get(f"{refusing.url}/model").json()["serving"]["models"]
    assert info["previous"] is None and info["shadow"] is None  # nothing half-applied


@pytest.mark.parallel
def test_a_shadow_candidate_is_measured_on_live_texts_then_promoted(
    root: Path, tmp_path: Path
) -> None:
    a, b = version_of(root / "a"), version_of(root / "b")
    with admin_server(root, tmp_path) as s:
        r = httpx.post(f"{s.url}/admin/shadow", json={"path": "b", "share": 1.0}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["models"]["shadow"]["version"] == b, r.text
        texts = [GOOD, "dull boring awful", "the plot", "superb acting"] * 5
        for text in texts:
            assert httpx.post(f"{s.url}/predict", json={"text": text}).json()["model_version"] == a

        def shadowed() -> float:
            families = text_string_to_metric_families(httpx.get(f"{s.url}/metrics").text)
            return sum(
                sample.value
                for family in families
                if family.name == "sentiment_shadow_label_agreement"
                for sample in family.samples
                if sample.name.endswith("_total")
            )

        deadline = time.monotonic() + 30
        while shadowed() < len(texts) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert shadowed() == len(texts)
        metrics = httpx.get(f"{s.url}/metrics").text
        assert f'sentiment_shadow_score_count{{version="{b}"}} {float(len(texts))}' in metrics
        assert f'sentiment_shadow_score_count{{version="{a}"}} {float(len(texts))}' in metrics
        assert "sentiment_shadow_score_difference_count 20.0" in metrics
        r = httpx.post(f"{s.url}/admin/shadow/promote", headers=ADMIN)
        assert r.status_code == 200 and r.json()["models"]["serving"]["version"] == b
        assert r.json()["models"]["shadow"] is None
        assert httpx.post(f"{s.url}/predict", json={"text": GOOD}).json()["model_version"] == b
        assert httpx.delete(f"{s.url}/admin/shadow", headers=ADMIN).status_code == 200


@dataclass
class Answer:
    started: float
    ended: float
    status: int
    version: str | None


async def traffic(url: str, clients: int, stop: asyncio.Event) -> list[Answer]:
    """`clients` connections sending single and batch requests until `stop` is set."""
    answers: list[Answer] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def user(i: int) -> None:
            n = 0
            while not stop.is_set():
                body = {"text": f"{GOOD} {n}"} if (i + n) % 2 else {"texts": [GOOD, f"dull {n}"]}
                started = time.perf_counter()
                try:
                    r = await client.post("/predict", json=body)
                    version = r.json().get("model_version") if r.status_code == 200 else None
                    status = r.status_code
                except httpx.HTTPError:
                    status, version = 0, None
                answers.append(Answer(started, time.perf_counter(), status, version))
                n += 1

        await asyncio.gather(*(user(i) for i in range(clients)))
    return answers


def p99(answers: list[Answer]) -> float:
    latencies = sorted(a.ended - a.started for a in answers)
    return latencies[int(0.99 * (len(latencies) - 1))]


async def test_five_swaps_under_load_with_two_workers_drop_nothing(
    root: Path, tmp_path: Path
) -> None:
    versions = {name: version_of(root / name) for name in "abc"}
    # No grace period: every swap loads its model anew, on both workers, in turn.
    with admin_server(root, tmp_path, workers=2, swap_grace_s=0) as s:
        stop = asyncio.Event()
        load = asyncio.create_task(traffic(s.url, 64, stop))
        swaps: list[tuple[float, float, str]] = []  # started, returned, version asked for
        async with httpx.AsyncClient(base_url=s.url, timeout=120) as admin:
            await asyncio.sleep(3)
            for target in ["b", "c", "a", "b", "c"]:  # each swap's old model differs from the next
                started = time.perf_counter()
                r = await admin.post("/admin/model", json={"path": target}, headers=ADMIN)
                assert r.status_code == 200, r.text
                assert set(r.json()["models"]["workers"].values()) == {versions[target]}
                swaps.append((started, time.perf_counter(), versions[target]))
                await asyncio.sleep(3)
        stop.set()
        answers = await load
    assert answers and all(a.status == 200 for a in answers), {a.status for a in answers}
    assert {a.version for a in answers} <= set(versions.values())
    # Once a swap call has returned, every request carries the new model until the next swap
    # begins: those stamped after the call returned and answered before the next call was sent
    # were served in between, whatever the delays of this test's own busy event loop (which
    # may send a request seconds after it stamps it, when another swap has come and gone).
    for (_, returned, version), following in zip(swaps, [*swaps[1:], None], strict=True):
        until = following[0] if following else float("inf")
        between = [a for a in answers if returned <= a.started and a.ended < until]
        assert between and {a.version for a in between} == {version}, (
            version,
            sorted({a.version for a in between}),
        )
    during = [a for a in answers if any(st <= a.started <= end for st, end, _ in swaps)]
    outside = [a for a in answers if a not in during]
    assert during and outside
    assert p99(during) < 2 * p99(outside), (p99(during), p99(outside))


def test_a_worker_killed_during_a_swap_leaves_every_request_answered(
    root: Path, tmp_path: Path
) -> None:
    """Whichever worker is killed, the one carrying the call or the other: the call completes on
    every worker (a replacement starts on the new model), fails naming the cause, or loses its
    connection with its worker; either way the workers end up serving one model, the old or
    the new, and requests are answered throughout."""
    a, b = version_of(root / "a"), version_of(root / "b")
    with admin_server(root, tmp_path, workers=2) as s:
        victim = max(workers_of(s.process.pid))

        async def scenario() -> tuple[int, list[Answer]]:
            stop = asyncio.Event()
            load = asyncio.create_task(traffic(s.url, 16, stop))
            async with httpx.AsyncClient(base_url=s.url, timeout=120) as admin:
                call = asyncio.create_task(
                    admin.post("/admin/model", json={"path": "b"}, headers=ADMIN)
                )
                await asyncio.sleep(0.2)
                os.kill(victim, signal.SIGKILL)
                try:
                    status = (await call).status_code
                except httpx.TransportError:  # the call was carried by the worker killed
                    status = 0
            await asyncio.sleep(1)
            stop.set()
            return status, await load

        status, answers = asyncio.run(scenario())
        assert status in (200, 422, 0)
        served = [a for a in answers if a.status == 200]
        assert len(served) > 0.9 * len(answers)  # requests on the killed worker's connections
        s.wait_for(lambda r: r.status_code == 200, timeout=90)
        deadline = time.monotonic() + 30  # a replacement applies what it finds, then reports
        while time.monotonic() < deadline:
            versions = httpx.get(f"{s.url}/readyz").json()["versions"]
            if len(versions) == 2 and len(set(versions.values())) == 1:
                break
            time.sleep(0.2)
        assert len(versions) == 2 and victim not in map(int, versions)
        serving = set(versions.values())
        assert (
            serving == {b} if status == 200 else serving == {a} if status else serving in ({a}, {b})
        )
        ok = [httpx.post(f"{s.url}/predict", json={"text": GOOD}) for _ in range(10)]
        assert all(r.status_code == 200 for r in ok)
        assert statistics.mode(r.json()["model_version"] for r in ok) in versions.values()
