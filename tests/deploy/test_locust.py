"""The load test: its response checks and texts, and Locust run headless for a few seconds
against the real server, with zero failures; a server with the wrong shape fails it."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.conftest import ROOT, run, tool
from tests.e2e.server import ServerProcess

SCENARIOS = {"single short", "single long", "batch short", "batch mixed"}


def load(name: str) -> ModuleType:
    """A module of loadtest/ (not a package: Locust puts the folder on sys.path itself)."""
    spec = importlib.util.spec_from_file_location(
        f"loadtest_{name}", ROOT / "loadtest" / f"{name}.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


checks = load("checks")
texts = load("texts")


def locust(host: str, out: Path, *extra: str, seconds: int = 5) -> tuple[int, str, dict]:
    """Run the load test headless; (exit code, output, {name: row of the stats CSV})."""
    result = run(
        tool("locust"), "--config", "loadtest/locust.conf",
        "--host", host, "--users", "4", "--spawn-rate", "4", "--run-time", f"{seconds}s",
        "--think-time", "0.1", "--csv", out / "locust", "--html", out / "locust.html", *extra,
        timeout=seconds + 60,
    )  # fmt: skip
    with (out / "locust_stats.csv").open() as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    return result.returncode, result.stdout + result.stderr, rows


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"label": "positive", "score": 0.9, "model_version": "m"}, None),
        ({"label": "positive", "score": 0.9}, "model_version is missing"),
        ({"label": "great", "score": 0.9, "model_version": "m"}, "body.label is 'great'"),
        ({"label": "negative", "score": 1.5, "model_version": "m"}, "outside [0, 1]"),
        ({"label": "negative", "score": 0.9, "model_version": "m"}, "disagrees with score"),
        ({"label": "positive", "score": "0.9", "model_version": "m"}, "not a number"),
        ([], "not a JSON object"),
    ],
)
def test_single_response_check(body: object, problem: str | None) -> None:
    found = checks.check_single(body)
    assert found == problem if problem is None else problem in found


def test_batch_response_check_counts_and_checks_every_prediction() -> None:
    good = {"predictions": [{"label": "negative", "score": 0.1}] * 3, "model_version": "m"}
    assert checks.check_batch(good, 3) is None
    assert checks.check_batch(good, 4) == "3 predictions for 4 texts"
    bad = {
        "predictions": [{"label": "negative", "score": 0.1}, {"score": 0.2}],
        "model_version": "m",
    }
    assert "predictions[1].label" in checks.check_batch(bad, 2)


def test_generated_texts_are_short_and_long(tmp_path: Path) -> None:
    pool = texts.generated_pool(seed=1)
    assert max(len(t) for t in pool.short) <= texts.SHORT_MAX_CHARS
    assert min(len(t.split()) for t in pool.long) >= 80
    assert texts.generated_pool(seed=1) == pool, "seeded: two runs send the same texts"
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("Great fun.\n\n" + "A long review. " * 30 + "\n")
    assert texts.file_pool(reviews) == texts.TextPool(
        ["Great fun."], [("A long review. " * 30).strip()]
    )
    reviews.write_text("only short\n")
    with pytest.raises(ValueError, match="need texts of both kinds"):
        texts.file_pool(reviews)


@pytest.mark.serial  # a server under load
def test_locust_runs_headless_against_the_real_server_with_no_failures(
    serving_artifact: Path, tmp_path: Path
) -> None:
    with ServerProcess(serving_artifact, tmp_path) as server:
        code, output, rows = locust(server.url, tmp_path)
    assert code == 0, output
    for scenario in SCENARIOS:
        row = rows[f"/predict {scenario}"]
        assert int(row["Request Count"]) > 0 and row["Failure Count"] == "0", row
    assert int(rows["Aggregated"]["Request Count"]) >= 20
    assert (tmp_path / "locust.html").stat().st_size > 0


class WrongShape(BaseHTTPRequestHandler):
    """A server whose /predict answers 200 with a body that breaks the contract."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"label": "positive", "score": 0.2}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def wrong_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), WrongShape)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_wrong_response_shape_fails_the_run(wrong_server: str, tmp_path: Path) -> None:
    code, output, rows = locust(wrong_server, tmp_path, "--tags", "single", seconds=2)
    assert code == 1, output
    assert int(rows["Aggregated"]["Failure Count"]) == int(rows["Aggregated"]["Request Count"]) > 0
    failures = (tmp_path / "locust_failures.csv").read_text()
    assert "model_version is missing" in failures
