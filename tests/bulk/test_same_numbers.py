"""The same numbers everywhere: one file scored by sentiment-score, by Ray Data, by
SentimentModel.predict and by the service's /predict gives every text the same score, within
the documented tolerances (docs/api.md: |dp| <= 1e-5 in fp32, <= 2e-3 in bf16, which runs where
the CPU has native bf16), and the same refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from model import SentimentModel
from tests.bulk.conftest import EDGE_TEXTS, MAX_CHARS, read, reviews, score_in_process, write
from tests.e2e.server import ServerProcess
from tests.precision import needs_native_bf16

ROWS = reviews(150, seed=11)
TOLERANCE = {"fp32": 1e-5, "bf16": 2e-3}


def from_service(artifact: Path, log_dir: Path, dtype: str) -> dict[str, tuple]:
    """id -> (score, error) from /predict, a text a request (a refused text fails its whole
    request)."""
    out: dict[str, tuple] = {}
    with ServerProcess(artifact, log_dir, dtype=dtype, max_text_chars=MAX_CHARS) as server:
        for row in ROWS:
            body = httpx.post(
                f"{server.url}/predict", json={"text": row["text"]}, timeout=30
            ).json()
            out[row["id"]] = (body.get("score"), body.get("error"))
    return out


def from_rows(rows: list[dict[str, Any]]) -> dict[str, tuple]:
    return {r["id"]: (r["score"], r["error"]) for r in rows}


@pytest.mark.parametrize("dtype", ["fp32", pytest.param("bf16", marks=needs_native_bf16)])
def test_a_file_scored_four_ways_gets_the_same_scores(
    local_ray: Any, tiny_artifact: Path, tmp_path: Path, dtype: str
) -> None:
    source = write(tmp_path / "in.csv", ROWS)
    common = [source, "--model", tiny_artifact, "--dtype", dtype, "--max-text-chars", MAX_CHARS]
    assert score_in_process(*common, "-o", tmp_path / "cli.jsonl") == 0
    assert score_in_process(*common, "-o", tmp_path / "ray", "--engine", "ray") == 0
    model = SentimentModel.load(tiny_artifact, dtype=dtype)
    admitted = [r for r in ROWS if r["text"] not in EDGE_TEXTS]
    scores = model.predict([r["text"] for r in admitted])
    predicted = dict(zip([r["id"] for r in admitted], scores, strict=True))
    ways = {
        "sentiment-score": from_rows(read(tmp_path / "cli.jsonl")),
        "--engine ray": from_rows(pq.read_table(tmp_path / "ray").to_pylist()),
        "/predict": from_service(tiny_artifact, tmp_path, dtype),
    }
    assert len(predicted) == len(ROWS) - 3  # the edge rows are refused
    for way, scores in ways.items():
        assert scores.keys() == {r["id"] for r in ROWS}, way
        for key, (score, error) in scores.items():
            if key in predicted:
                assert error is None, (way, key)
                assert score == pytest.approx(predicted[key], abs=TOLERANCE[dtype]), (way, key)
            else:
                assert score is None and error in ("empty_text", "text_too_long"), (way, key)
    refusals = [{k: e for k, (_, e) in s.items() if e} for s in ways.values()]
    assert refusals[0] == refusals[1] == refusals[2]  # the same reason, every way in
