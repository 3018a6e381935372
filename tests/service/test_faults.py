"""Faults injected into the real app, served by uvicorn on a loopback port in this process: a
scorer that raises on one text, one that hangs, and a batcher that dies."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

import service.engine.scorer as scorer_module
from service.app import create_app
from service.settings import Settings
from tests.e2e.server import free_port

# A server in this process, timed to a request deadline of 2 s: nothing may run beside it.
pytestmark = pytest.mark.serial


class Fatal(BaseException):
    """Not an Exception: what isolation cannot catch, as a consumer's own bug might be."""


class Faulty(scorer_module.Scorer):
    """The real scorer, except on texts that contain a trigger word."""

    release = threading.Event()

    def prepare(self, texts: list[str]) -> list[list[int]]:
        if any("poison-prepare" in t for t in texts):
            raise UnicodeEncodeError("utf-8", "poison-prepare", 0, 1, "surrogates not allowed")
        if any("fatal" in t for t in texts):
            raise Fatal
        marks = {"poison-run": POISON, "hang-here": HANG}
        return [
            ids + [mark for word, mark in marks.items() if word in text]
            for ids, text in zip(super().prepare(texts), texts, strict=True)
        ]

    def run(self, id_lists: list[list[int]]) -> list[float]:
        if any(POISON in ids for ids in id_lists):  # an id outside the embedding: IndexError
            raise IndexError("index out of range in self")
        if any(HANG in ids for ids in id_lists):
            self.release.wait(30)  # hangs until the test releases it
            id_lists = [[i for i in ids if i != HANG] for ids in id_lists]
        return super().run(id_lists)


POISON, HANG = 999_999, 999_998


@pytest.fixture
def app_server(
    serving_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, object]]:
    monkeypatch.setattr(scorer_module, "Scorer", Faulty)
    Faulty.release.clear()
    settings = Settings(
        model=serving_artifact,
        port=free_port(),
        torch_threads=1,
        warmup_rounds=0,
        dtype="fp32",
        request_timeout_s=2,
        max_batch_wait_ms=50,
        log_format="text",
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    yield url, app
    Faulty.release.set()
    server.should_exit = True
    thread.join(30)


@pytest.mark.parametrize("trigger", ["poison-prepare", "poison-run"])
async def test_a_poisonous_text_fails_only_its_own_request(
    app_server: tuple[str, object], trigger: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = app_server
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        poisoned = client.post(
            "/predict", json={"text": f"a {trigger} text"}, headers={"X-Request-ID": "req-77"}
        )
        mates = [client.post("/predict", json={"text": f"review {i}"}) for i in range(12)]
        answers = await asyncio.gather(poisoned, *mates)
        assert answers[0].status_code == 500
        error = answers[0].json()
        assert error["error"] == "internal_error" and "req-77" in error["message"]
        assert all(r.status_code == 200 for r in answers[1:])
        assert max(int(r.headers["x-batch-size"]) for r in answers[1:]) > 1  # they were batched
        again = await client.post("/predict", json={"texts": ["next", "batch"]})
        assert again.status_code == 200
        assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert trigger not in caplog.text


async def test_a_hung_model_fails_requests_at_their_deadline(
    app_server: tuple[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = app_server
    monkeypatch.setattr("service.engine.batcher.STALL_AFTER_S", 3.0)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        began = time.monotonic()
        hung = await client.post("/predict", json={"text": "hang-here"})
        assert hung.status_code == 504 and 1.5 < time.monotonic() - began < 4
        await asyncio.sleep(2)
        health = await client.get("/healthz")
        assert health.status_code == 503 and "run call" in health.json()["reason"]
        Faulty.release.set()
        for _ in range(100):  # healthy again once the call returns
            if (await client.get("/healthz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("/healthz stayed 503 after the hung call returned")


async def test_a_dead_batcher_turns_liveness_and_readiness_to_503(
    app_server: tuple[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    url, _ = app_server
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        dying = await client.post("/predict", json={"text": "fatal"})
        assert dying.status_code in (500, 503)
        health = await client.get("/healthz")
        assert health.status_code == 503 and "the batcher stopped" in health.json()["reason"]
        assert (await client.get("/readyz")).status_code == 503
        after = await client.post("/predict", json={"text": "a plain review"})
        assert after.status_code == 503 and after.json()["error"] == "unavailable"
    assert "the batcher stopped" in caplog.text
