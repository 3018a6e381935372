"""/metrics parsed as Prometheus text: the counts match the traffic, with one worker or several."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server import ServerProcess

# Questions to a server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel


def scrape(url: str) -> dict[str, list]:
    """{family name: [samples]} from /metrics, through prometheus_client's own parser."""
    r = httpx.get(f"{url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {f.name: f.samples for f in text_string_to_metric_families(r.text)}


def value(families: dict[str, list], sample: str, **labels: str) -> float:
    name = sample.removesuffix("_total").removesuffix("_count").removesuffix("_sum")
    for family in (families.get(name, []), families.get(sample, [])):
        for s in family:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_metrics_count_the_traffic(server: ServerProcess) -> None:
    before = scrape(server.url)
    texts = ["a wonderful superb film", "dull boring awful", "the plot"]
    for _ in range(3):
        httpx.post(f"{server.url}/predict", json={"texts": texts})
    httpx.post(f"{server.url}/predict", json={"text": ""})
    after = scrape(server.url)

    def delta(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert delta("sentiment_requests_total", route="/predict", status="200") == 3
    assert delta("sentiment_requests_total", route="/predict", status="422") == 1
    assert (
        delta("sentiment_predictions_total", label="positive")
        + delta("sentiment_predictions_total", label="negative")
        == 9
    )
    assert delta("sentiment_request_duration_seconds_count", route="/predict") == 4
    assert delta("sentiment_batch_size_sum") == 9
    assert delta("sentiment_queue_wait_seconds_count") == 9
    assert delta("sentiment_tokens_per_text_count") == 9
    assert delta("sentiment_inference_duration_seconds_count") >= 3
    assert value(after, "sentiment_ready") == 1
    assert value(after, "sentiment_queue_capacity") == 1024
    info = [s for s in after["sentiment_model_info"] if s.value == 1]
    assert (
        len(info) == 1
        and info[0].labels["dtype"] == "fp32"
        and info[0].labels["version"].startswith("serving")
    )
    assert "process_resident_memory_bytes" in after  # the process collector


def test_unknown_paths_share_one_label(server: ServerProcess) -> None:
    for path in ("/a", "/b/c", "/wp-admin.php"):
        httpx.get(f"{server.url}{path}")
    routes = {s.labels["route"] for s in scrape(server.url)["sentiment_requests"]}
    assert "other" in routes and not routes & {"/a", "/b/c", "/wp-admin.php"}


def test_several_workers_report_correct_totals(serving_artifact: Path, tmp_path: Path) -> None:
    with ServerProcess(serving_artifact, tmp_path, workers=2) as server:
        with httpx.Client(base_url=server.url) as client:  # keep-alive and new connections alike
            for i in range(30):
                client.post("/predict", json={"texts": ["good film", "bad film"]})
                httpx.post(f"{server.url}/predict", json={"text": f"film {i}"})
        pids, totals = set(), set()
        for _ in range(12):  # scrapes land on either worker; every one must see the sum
            families = scrape(server.url)
            totals.add(value(families, "sentiment_requests_total", route="/predict", status="200"))
            assert (
                value(families, "sentiment_predictions_total", label="positive")
                + value(families, "sentiment_predictions_total", label="negative")
                == 90
            )
            pids |= {s.labels["pid"] for s in families["sentiment_worker_resident_memory_bytes"]}
    assert totals == {60.0}
    assert len(pids) == 2  # both workers report their own memory
