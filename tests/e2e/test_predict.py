"""/predict, /model, /docs and the headers, through HTTP against the real server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from model import SentimentModel
from tests import synthetic
from tests.e2e.server import ServerProcess
from tests.precision import needs_native_bf16, no_native_bf16

# Questions to a server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel

GOOD = "a wonderful superb film"
BAD = "a dull boring film"


def test_one_text(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/predict", json={"text": GOOD})
    body = r.json()
    assert r.status_code == 200
    assert set(body) == {"label", "score", "known_share", "truncated", "model_version"}
    assert body["known_share"] == 1.0 and body["truncated"] is False
    assert body["label"] == "positive" and 0.5 <= body["score"] <= 1.0
    assert body["model_version"].startswith("serving-")


def test_several_texts_in_input_order(server: ServerProcess, serving_artifact: Path) -> None:
    texts = [GOOD, BAD, "the plot " * 300 + "superb", "dreadful"]
    r = httpx.post(f"{server.url}/predict", json={"texts": texts})
    body = r.json()
    assert r.status_code == 200 and set(body) == {"predictions", "model_version"}
    expected = SentimentModel.load(serving_artifact).predict(texts)
    assert [p["score"] for p in body["predictions"]] == pytest.approx(expected, abs=1e-6)
    assert [p["label"] for p in body["predictions"]] == [
        "positive" if s >= 0.5 else "negative" for s in expected
    ]


def test_request_id_is_echoed_or_made_and_timings_are_reported(server: ServerProcess) -> None:
    r = httpx.post(
        f"{server.url}/predict", json={"text": GOOD}, headers={"X-Request-ID": "abc-123"}
    )
    assert r.headers["x-request-id"] == "abc-123"
    for name in ("x-total-time", "x-queue-time", "x-tokenization-time", "x-inference-time"):
        assert float(r.headers[name]) >= 0
    made = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert (
        made.headers["x-request-id"] != "bad id with spaces"
        and len(made.headers["x-request-id"]) == 32
    )


async def test_a_score_does_not_depend_on_its_batch_mates(server: ServerProcess) -> None:
    """fp32: alone, inside a batch request, and among concurrent requests, |dp| <= 1e-5."""
    rng = __import__("random").Random(5)
    texts = [
        synthetic.review(i % 2, rng, length=n) for i, n in enumerate((3, 40, 900, 12, 250, 7, 600))
    ]
    async with httpx.AsyncClient(base_url=server.url) as client:
        alone = [(await client.post("/predict", json={"text": t})).json()["score"] for t in texts]
        batched = (await client.post("/predict", json={"texts": texts})).json()["predictions"]
        crowd = await asyncio.gather(
            *(client.post("/predict", json={"texts": texts[::-1]}) for _ in range(8)),
            *(client.post("/predict", json={"text": t}) for t in texts),
        )
    assert [p["score"] for p in batched] == pytest.approx(alone, abs=1e-5)
    for response in crowd[:8]:
        assert [p["score"] for p in response.json()["predictions"]][::-1] == pytest.approx(
            alone, abs=1e-5
        )
    assert [r.json()["score"] for r in crowd[8:]] == pytest.approx(alone, abs=1e-5)
    assert max(int(r.headers["x-batch-size"]) for r in crowd) > 1  # batches really formed


def test_model_reports_metadata_and_serving_configuration(server: ServerProcess) -> None:
    body = httpx.get(f"{server.url}/model").json()
    assert body["metadata"]["model_config"]["hidden_size"] == 32
    assert body["metadata"]["metrics"]["validation"]["accuracy"] > 0.5
    serving = body["serving"]
    assert (
        serving["device"] == "cpu" and serving["dtype"] == "fp32" and serving["torch_threads"] == 1
    )
    assert serving["max_batch_size"] == 64 and serving["status"] == "ready"
    assert serving["precision_check"] is None  # fp32 needs none


def test_openapi_documents_both_forms_with_examples(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert {"one text", "several texts"} <= set(body["examples"])
    name = body["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"text", "texts"} <= set(spec["components"]["schemas"][name]["properties"])
    assert {"200", "413", "415", "422", "503", "504"} <= set(
        spec["paths"]["/predict"]["post"]["responses"]
    )
    assert httpx.get(f"{server.url}/docs").status_code == 200


def test_operation_ids_are_names_a_client_generator_can_use(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    ids = {path: {op["operationId"] for op in ops.values()} for path, ops in spec["paths"].items()}
    assert ids["/predict"] == {"predict"} and ids["/explain"] == {"explain"}
    assert ids["/healthz"] == {"healthz"} and ids["/readyz"] == {"readyz"}
    assert all(name.isidentifier() and not name.startswith("_") for n in ids.values() for name in n)


@needs_native_bf16
def test_bf16_server_stays_close_and_reports_its_precision_check(
    serving_artifact: Path, tmp_path: Path
) -> None:
    texts = [GOOD, BAD, "the plot " * 300 + "superb"]
    exact = SentimentModel.load(serving_artifact).predict(texts)
    with ServerProcess(serving_artifact, tmp_path, dtype="bf16") as bf16:
        alone = [httpx.post(f"{bf16.url}/predict", json={"text": t}).json()["score"] for t in texts]
        batched = [
            p["score"]
            for p in httpx.post(f"{bf16.url}/predict", json={"texts": texts}).json()["predictions"]
        ]
        check = httpx.get(f"{bf16.url}/model").json()["serving"]["precision_check"]
    assert batched == pytest.approx(alone, abs=2e-3)
    assert alone == pytest.approx(exact, abs=2e-2)
    assert check["reference"] == "fp32" and 0 <= check["max_abs_diff"] < 2e-2


@no_native_bf16
@pytest.mark.serial  # timed: refused within 20 s
def test_explicit_bf16_is_refused_at_once_where_the_cpu_has_no_native_bf16(
    serving_artifact: Path, tmp_path: Path
) -> None:
    process = ServerProcess(serving_artifact, tmp_path, dtype="bf16", workers=2)
    started = time.monotonic()
    try:
        code = process.start(wait_ready=False).process.wait(30)
    finally:
        process.stop()
    logs = process.logs()
    assert code == 2 and time.monotonic() - started < 20, logs
    assert "SENTIMENT_DTYPE / --dtype" in logs and "no native bf16; use auto or fp32" in logs
    assert "Started server process" not in logs  # refused before any worker started


def test_known_share_says_how_much_the_model_could_read(server: ServerProcess) -> None:
    texts = [GOOD, "😀😀 🎬!", "a superb zzqxv blorptastic film"]
    r = httpx.post(f"{server.url}/predict", json={"texts": texts})
    shares = [p["known_share"] for p in r.json()["predictions"]]
    assert shares[0] == 1.0 and shares[1] < 0.5 and 0.5 < shares[2] < 1.0


def test_long_texts_are_refused_or_truncated_as_configured(
    serving_artifact: Path, tmp_path: Path
) -> None:
    head, tail = "a wonderful superb film " * 10, " dull boring awful" * 10
    long = head + "the plot " * 2000 + tail  # 18,000+ characters
    with ServerProcess(serving_artifact, tmp_path, dtype="fp32", max_text_chars=1000) as refuse:
        r = httpx.post(f"{refuse.url}/predict", json={"text": long})
        assert r.status_code == 422 and r.json()["error"] == "text_too_long"
        assert "SENTIMENT_LONG_TEXTS=truncate" in r.json()["message"]
    settings = {"dtype": "fp32", "max_text_chars": 1000, "long_texts": "truncate"}
    with ServerProcess(serving_artifact, tmp_path, **settings) as cut:
        r = httpx.post(f"{cut.url}/predict", json={"texts": [long, GOOD]})
        first, second = r.json()["predictions"]
        assert r.status_code == 200 and first["truncated"] is True and second["truncated"] is False
        kept = long[:499] + "\n" + long[-500:]
        alone = httpx.post(f"{cut.url}/predict", json={"text": kept}).json()
        assert alone["truncated"] is False and first["score"] == pytest.approx(alone["score"])
        explained = httpx.post(f"{cut.url}/explain", json={"text": long})
        assert explained.status_code == 422 and "/explain explains whole texts" in explained.text
        metrics = httpx.get(f"{cut.url}/metrics").text
        assert "sentiment_truncated_texts_total 1.0" in metrics
