"""POST /explain against the real server: /predict's score with token attributions, spans in the
text as sent, its own limits, queue and threads, auth, metrics, and 501 for old artifacts."""

from __future__ import annotations

import asyncio
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from model.cleaning import INVISIBLE
from tests.e2e.server import ServerProcess
from tests.legacy import forward_only_artifact

KEY = "an-explain-test-key-0123"
AUTH = {"Authorization": f"Bearer {KEY}"}
GOOD = "a wonderful superb film"


@pytest.fixture(scope="module")
def server(
    serving_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """fp32, so scores compare exactly; explanations of everything the model reads (1,000), with
    time for a queue of them on a slow CPU (one took 4.7 s on a 2-core AVX2 EPYC)."""
    logs = tmp_path_factory.mktemp("logs")
    settings = {"dtype": "fp32", "explain_max_tokens": 1000, "explain_timeout_s": 120}
    with ServerProcess(serving_artifact, logs, **settings) as process:
        yield process


@pytest.fixture(scope="module")
def tight(
    serving_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Small explanation limits, slow explanations (1,024 steps), a 1 s deadline, an API key."""
    settings = {
        "explain_steps": 1024,
        "explain_max_tokens": 400,
        "explain_max_texts": 2,
        "explain_queue_capacity": 2,
        "explain_timeout_s": 1.0,
        "api_keys": KEY,
    }
    with ServerProcess(serving_artifact, tmp_path_factory.mktemp("logs"), **settings) as process:
        yield process


def read_back(text: str, token: dict) -> str:
    piece = text[token["start"] : token["end"]]
    return unicodedata.normalize("NFC", INVISIBLE.sub("", piece)).lower()


@pytest.mark.parallel
def test_one_text_is_scored_as_predict_scores_it_and_explained(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/explain", json={"text": GOOD})
    body = r.json()
    assert r.status_code == 200, body
    predicted = httpx.post(f"{server.url}/predict", json={"text": GOOD}).json()
    assert body["label"] == predicted["label"] == "positive"
    assert body["score"] == pytest.approx(predicted["score"], abs=1e-6)
    assert body["model_version"] == predicted["model_version"]
    assert body["method"] == {"name": "integrated_gradients", "baseline": "pad", "steps": 32}
    assert [t["token"] for t in body["tokens"]] == GOOD.split()
    total = sum(t["attribution"] for t in body["tokens"])
    check = body["completeness"]
    assert check["delta"] == pytest.approx(total - (body["logit"] - body["baseline_logit"]))
    assert abs(check["delta"]) <= check["tolerance"] and check["within_tolerance"]
    for name in ("x-queue-time", "x-tokenization-time", "x-inference-time", "x-total-time"):
        assert float(r.headers[name]) >= 0
    assert r.headers["x-batch-size"] == "1" and r.headers["x-request-id"]


@pytest.mark.parallel
def test_several_texts_come_back_in_order(server: ServerProcess) -> None:
    texts = [GOOD, "a dull boring film", "the plot " * 30 + "dreadful"]
    body = httpx.post(f"{server.url}/explain", json={"texts": texts}).json()
    predicted = httpx.post(f"{server.url}/predict", json={"texts": texts}).json()["predictions"]
    assert [e["score"] for e in body["explanations"]] == pytest.approx(
        [p["score"] for p in predicted], abs=1e-6
    )
    assert [len(e["tokens"]) for e in body["explanations"]] == [4, 4, 61]


@pytest.mark.parallel
@pytest.mark.parametrize(
    "text",
    [
        "Superb<br /><br />film, <BR>and dull<br/>end",
        "Cafe\u0301 cre\u0300me was wonderful and superb",  # combining accents: NFC shortens them
        "great 😀👍🏽 film 🎬! 𝒻𝒶𝓃𝓉𝒶𝓈𝓉𝒾𝒸",  # astral code points, a skin-tone modifier
    ],
)
def test_spans_index_the_text_as_the_client_sent_it(server: ServerProcess, text: str) -> None:
    body = httpx.post(f"{server.url}/explain", json={"text": text}).json()
    assert body["not_read"] is None
    previous_end = 0
    for token in body["tokens"]:
        assert read_back(text, token) == token["token"], token
        assert token["start"] >= previous_end
        previous_end = token["end"]


@pytest.mark.parallel
def test_the_part_past_the_token_limit_is_reported_as_not_read(server: ServerProcess) -> None:
    text = "Superb<br />" + "the plot of it " * 300 + "ends 😀 dull."  # 1,205 tokens
    body = httpx.post(f"{server.url}/explain", json={"text": text}).json()
    tokens, cut = body["tokens"], body["not_read"]
    assert len(tokens) == 1000 and cut is not None
    head = [t for t in tokens if t["end"] <= cut["start"]]
    tail = [t for t in tokens if t["start"] >= cut["end"]]
    assert len(head) == 250 and len(tail) == 750  # the first quarter and the last three
    assert text[tail[-1]["start"] :] == "." and "😀" in text[tail[0]["start"] :]
    assert all(read_back(text, t) == t["token"] for t in tokens)
    assert abs(body["completeness"]["delta"]) <= body["completeness"]["tolerance"]


@pytest.mark.parallel
def test_bad_input_is_refused_as_predict_refuses_it(server: ServerProcess) -> None:
    for payload, code, field in [
        ({"text": "   "}, "empty_text", "text"),
        ({"text": "a" * 20_001}, "text_too_long", "text"),
        ({"texts": ["fine", ""]}, "empty_text", "texts[1]"),
        ({"txt": "a"}, "invalid_request", "txt"),
        ({"texts": ["x"] * 9}, "too_many_texts", "texts"),
    ]:
        r = httpx.post(f"{server.url}/explain", json=payload)
        assert r.status_code == 422 and r.json()["error"] == code, r.text
        assert r.json()["field"] == field
    assert "SENTIMENT_EXPLAIN_MAX_TEXTS" in r.json()["message"]
    assert httpx.post(f"{server.url}/explain", content=b"{").status_code == 415
    assert httpx.get(f"{server.url}/explain").status_code == 405


async def test_predict_keeps_answering_while_explanations_run(server: ServerProcess) -> None:
    """Four long explanations queue up one behind the other; /predict, on its own queue and
    threads, answers all its requests before the explanations are done."""
    long = "the plot was superb but the ending dull " * 125  # 1,000 tokens read
    finished: dict[str, list[float]] = {"explain": [], "predict": []}

    async def call(client: httpx.AsyncClient, route: str, text: str) -> int:
        r = await client.post(route, json={"text": text})
        finished[route.strip("/")].append(time.perf_counter())
        return r.status_code

    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        explaining = [asyncio.create_task(call(client, "/explain", long)) for _ in range(4)]
        await asyncio.sleep(0.2)
        predicting = [await call(client, "/predict", f"{GOOD} {i}") for i in range(20)]
        statuses = await asyncio.gather(*explaining)
    assert set(statuses) == {200} and set(predicting) == {200}
    assert max(finished["predict"]) < max(finished["explain"])


def test_explanations_need_the_api_key_as_predict_does(tight: ServerProcess) -> None:
    assert httpx.post(f"{tight.url}/explain", json={"text": GOOD}).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key-at-all-0000"}
    assert httpx.post(f"{tight.url}/explain", json={"text": GOOD}, headers=wrong).status_code == 401
    ok = httpx.post(f"{tight.url}/explain", json={"text": GOOD}, headers=AUTH)
    assert ok.status_code == 200 and ok.json()["method"]["steps"] == 1024


def test_its_own_limits_queue_and_deadline(tight: ServerProcess) -> None:
    long = "the plot was superb but dull " * 70  # 420 tokens: over the limit of 400
    r = httpx.post(f"{tight.url}/explain", json={"texts": [GOOD, long]}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"] == "too_many_tokens", r.text
    assert r.json()["field"] == "texts[1]" and "SENTIMENT_EXPLAIN_MAX_TOKENS" in r.json()["message"]
    three = httpx.post(f"{tight.url}/explain", json={"texts": ["a", "b", "c"]}, headers=AUTH)
    assert three.status_code == 422 and "limit is 2" in three.json()["message"]

    # 390 tokens x 1,024 steps, about 400,000 positions through the LSTMs forward and back: over
    # half a second on any CPU, so the second text cannot be done by the 1 s deadline.
    slow = "the plot was superb but dull " * 65
    with httpx.Client(base_url=tight.url, headers=AUTH, timeout=30) as client:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=tight.url, headers=AUTH, timeout=30) as c:
                return await asyncio.gather(
                    *(c.post("/explain", json={"text": slow}) for _ in range(5))
                )

        responses = asyncio.run(burst())
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {200, 503, 504} and 503 in statuses and 504 in statuses
        full = next(r for r in responses if r.status_code == 503)
        assert full.json()["error"] == "overloaded" and full.headers["retry-after"]
        late = next(r for r in responses if r.status_code == 504)
        assert late.json()["error"] == "timeout"
        assert client.post("/predict", json={"text": GOOD}).status_code == 200


@pytest.mark.parallel
def test_metrics_count_explanations(server: ServerProcess) -> None:
    def scrape() -> dict[str, float]:
        text = httpx.get(f"{server.url}/metrics").text
        return {
            s.name + str(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }

    before = scrape()
    httpx.post(f"{server.url}/explain", json={"texts": [GOOD, "dull"]})
    httpx.post(f"{server.url}/explain", json={"text": ""})
    after = scrape()

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("sentiment_requests_total[('route', '/explain'), ('status', '200')]") == 1
    assert delta("sentiment_requests_total[('route', '/explain'), ('status', '422')]") == 1
    assert delta("sentiment_explain_duration_seconds_count[]") == 2
    assert delta("sentiment_explain_queue_wait_seconds_count[]") == 2
    assert delta("sentiment_explain_completeness_error_count[]") == 2
    assert delta("sentiment_explain_tokens_per_text_sum[]") == 5
    assert after["sentiment_explain_queue_capacity[]"] == 32
    assert delta("sentiment_predictions_total[('label', 'positive')]") == 0  # /predict's own


@pytest.mark.parallel
def test_openapi_documents_explain(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    post = spec["paths"]["/explain"]["post"]
    assert {"200", "422", "501", "503", "504"} <= set(post["responses"])
    assert {"one text", "several texts"} <= set(
        post["requestBody"]["content"]["application/json"]["examples"]
    )
    assert "/" not in spec["paths"]  # the page is not part of the API


@pytest.mark.parallel
def test_an_artifact_without_classify_answers_501(tiny_artifact: Path, tmp_path: Path) -> None:
    """As the bundled model, exported before classify() and the drift reference, does today."""
    old_artifact = forward_only_artifact(tiny_artifact, tmp_path / "old")
    with ServerProcess(old_artifact, tmp_path, dtype="fp32") as old:
        r = httpx.post(f"{old.url}/explain", json={"text": GOOD})
        assert r.status_code == 501 and r.json()["error"] == "explanations_unavailable"
        assert "classify()" in r.json()["message"] and "old-tiny" in r.json()["message"]
        assert httpx.post(f"{old.url}/predict", json={"text": GOOD}).status_code == 200
        info = httpx.get(f"{old.url}/model").json()
        assert info["serving"]["explain"]["available"] is False
        assert "reference" not in info["metadata"]  # no drift reference either: no gauges
        metrics = httpx.get(f"{old.url}/metrics").text
        assert "sentiment_reference_positive_share{" not in metrics
        live = f'sentiment_score_count{{version="{info["model_version"]}"}} 1.0'
        assert live in metrics  # the live side works all the same
