"""Ray Data: SentimentScorer returns the CLI's columns for every batch format, and
sentiment-score --engine ray on a local Ray (two CPUs) writes the scores the local engine writes,
resuming a run without writing a row twice."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bulk import ray_engine
from bulk.errors import BulkError
from bulk.ray_data import SentimentScorer
from bulk.run import Options
from bulk.scoring import ADDED, Limits, prepare, score
from model import SentimentModel
from tests.bulk.conftest import MAX_CHARS, read, reviews, score_in_process, write

ROWS = reviews(90, seed=3)


@pytest.fixture(scope="module")
def scorer(tiny_artifact: Path) -> SentimentScorer:
    return SentimentScorer(tiny_artifact, dtype="fp32", max_text_chars=MAX_CHARS, torch_threads=1)


def cli_columns(model: SentimentModel, values: list[Any]) -> dict[str, list]:
    return score(model, prepare(model, values, Limits(MAX_CHARS)))


@pytest.mark.parametrize("batch_format", ["pyarrow", "pandas", "numpy"])
def test_the_callable_adds_the_clis_columns_in_any_batch_format(
    scorer: SentimentScorer, model: SentimentModel, batch_format: str
) -> None:
    table = pa.Table.from_pylist(ROWS)
    batch = {
        "pyarrow": table,
        "pandas": table.to_pandas(),
        "numpy": {
            c: np.array(table.column(c).to_pylist(), dtype=object) for c in table.column_names
        },
    }[batch_format]
    out = scorer(batch)
    as_lists = {
        "pyarrow": lambda t: t.to_pydict(),
        # pandas has its own null (NaN) for a missing string or number
        "pandas": lambda f: {c: [None if pd.isna(v) else v for v in f[c]] for c in f.columns},
        "numpy": lambda d: {c: list(v) for c, v in d.items()},
    }[batch_format](out)
    assert list(as_lists) == ["id", *ADDED]
    assert as_lists["id"] == [r["id"] for r in ROWS]
    want = cli_columns(model, [r["text"] for r in ROWS])
    assert as_lists["error"] == want["error"] and "text_too_long" in want["error"]
    for got, expected in zip(as_lists["score"], want["score"], strict=True):
        assert got is None if expected is None else got == pytest.approx(expected)


def test_the_callable_refuses_a_batch_without_the_text_or_with_a_clash(
    scorer: SentimentScorer,
) -> None:
    with pytest.raises(BulkError, match="no column 'text'"):
        scorer(pa.table({"body": ["a"]}))
    with pytest.raises(BulkError, match="'score', which scoring adds"):
        scorer(pa.table({"text": ["a"], "score": [1]}))


def test_map_batches_runs_it_on_an_actor(local_ray: Any, tiny_artifact: Path) -> None:
    ds = local_ray.data.from_arrow(pa.Table.from_pylist(ROWS))
    scored = ds.map_batches(
        SentimentScorer,
        fn_constructor_kwargs={"model": str(tiny_artifact), "dtype": "fp32"},
        batch_format="pyarrow",
        batch_size=32,
        compute=local_ray.data.ActorPoolStrategy(size=1),
        num_cpus=1,
    )
    rows = scored.take_all()
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in ROWS)
    assert set(rows[0]) == {"id", *ADDED}


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in rows}


@pytest.mark.parametrize("source_name", ["in.csv", "in.jsonl.gz"])
def test_engine_ray_writes_the_scores_the_local_engine_writes(
    local_ray: Any, tiny_artifact: Path, tmp_path: Path, source_name: str
) -> None:
    source = write(tmp_path / source_name, ROWS)
    common = [source, "--model", tiny_artifact, "--dtype", "fp32", "--max-text-chars", MAX_CHARS]
    assert score_in_process(*common, "-o", tmp_path / "local.parquet") == 0
    assert score_in_process(*common, "-o", tmp_path / "ray", "--engine", "ray") == 0
    local = by_id(read(tmp_path / "local.parquet"))
    distributed = by_id(pq.read_table(tmp_path / "ray").to_pylist())
    assert distributed.keys() == local.keys()
    for key, row in local.items():
        other = distributed[key]
        assert other["error"] == row["error"] and other["label"] == row["label"]
        if row["score"] is not None:
            assert other["score"] == pytest.approx(row["score"], abs=1e-5)
    assert list(distributed[ROWS[0]["id"]]) == ["id", *ADDED]


def test_engine_ray_resumes_the_waves_that_did_not_finish(
    local_ray: Any, tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ray_engine, "FILES_PER_WAVE", 1)
    (tmp_path / "in").mkdir()
    for i in range(2):
        write(tmp_path / "in" / f"{i}.parquet", ROWS[i * 45 : (i + 1) * 45])
    out = tmp_path / "out"
    options = Options(
        [str(tmp_path / "in")],
        None,
        None,
        model=tiny_artifact,
        dtype="fp32",
        workers=1,
        limits=Limits(MAX_CHARS),
        quiet=True,
    )
    first = ray_engine.run_ray(options, str(out), None)
    assert first.rows == 90 and len(pq.read_table(out)) == 90
    assert first.refused == {"empty_text": 2, "text_too_long": 1}
    kept = sorted((out / "wave-00000").glob("*.parquet"))
    (out / "wave-00001" / "_SUCCESS").unlink()  # as if killed while writing wave 1
    (out / "wave-00001" / "half-written.parquet").write_bytes(b"PAR1")
    resumed = ray_engine.run_ray(replace(options, resume=True), str(out), None)
    assert resumed.skipped == 45 and resumed.rows == 45
    ids = pq.read_table(out).column("id").to_pylist()
    assert sorted(ids) == sorted(r["id"] for r in ROWS)  # each row once
    assert sorted((out / "wave-00000").glob("*.parquet")) == kept  # not redone
    with pytest.raises(BulkError, match="--resume: the run in .* had another text_column"):
        ray_engine.run_ray(replace(options, resume=True, text_column="body"), str(out), None)
    with pytest.raises(BulkError, match="not empty: pass --resume"):
        ray_engine.run_ray(options, str(out), None)


def test_engine_ray_without_ray_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(BulkError, match=r"pip install 'sentiment-service\[ray\]'"):
        ray_engine.run_ray(Options([str(tmp_path)], None, None), str(tmp_path / "o"), None)


def test_pandas_nulls_are_missing_texts(scorer: SentimentScorer) -> None:
    out = scorer(pd.DataFrame({"text": ["great", None, np.nan]}))
    errors = [None if pd.isna(v) else v for v in out["error"]]
    assert errors == [None, "missing_text", "missing_text"]


class FakeDataset:
    """Stands in for ray.data: records what map_batches is asked for."""

    def __init__(self) -> None:
        self.asked: dict[str, Any] = {}
        self.data = self  # so that fake.data.read_parquet(...) works
        self.ActorPoolStrategy = lambda size: ("actors", size)

    def read_parquet(self, paths: list[str]) -> FakeDataset:
        return self

    def map_batches(self, fn: Any, **kwargs: Any) -> FakeDataset:
        self.asked = kwargs
        return self

    def write_parquet(self, folder: str, filesystem: Any) -> None:
        pass


@pytest.mark.parametrize(("device", "gpus", "threads"), [("cuda", 1, None), ("cpu", 0, 1)])
def test_engine_ray_asks_for_a_gpu_per_actor_only_with_cuda(
    device: str, gpus: int, threads: int | None
) -> None:
    fake = FakeDataset()
    wave = [{"uri": "/in/a.parquet", "format": "parquet", "compression": None}]
    options = Options(["/in"], None, None, device=device, workers=3)
    ray_engine._run_wave(fake, None, wave, "/out/wave-00000", "parquet", options)
    assert fake.asked["num_gpus"] == gpus and fake.asked["num_cpus"] == 1
    assert fake.asked["compute"] == ("actors", 3)
    assert fake.asked["fn_constructor_kwargs"]["device"] == device
    assert fake.asked["fn_constructor_kwargs"]["torch_threads"] == threads
