"""Shared by the bulk scoring tests: the tiny real model, input files in every format, and
sentiment-score run in this process or in a fresh one."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bulk.cli import main
from model import SentimentModel
from tests import synthetic

ROOT = Path(__file__).resolve().parents[2]
# Rows every format can hold, refused ones among them: an empty text, one of only a line break,
# one of 401 characters (over the tests' --max-text-chars, MAX_CHARS; the synthetic reviews have
# 64 to 270).
MAX_CHARS = 300
EDGE_TEXTS = ["", "  <br />  ", "wonderful " * 40 + "!"]


def reviews(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` rows {"id": ..., "text": ...}: synthetic reviews, the edge texts among them."""
    rng = random.Random(seed)
    pairs = synthetic.reviews(n, seed)
    rows = [{"id": f"r{i:05d}", "text": text} for i, (text, _) in enumerate(pairs)]
    for text in EDGE_TEXTS:
        rows[rng.randrange(n)]["text"] = text
    return rows


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows as the file's extension says: .csv, .tsv, .jsonl, .parquet, and .gz or .zst."""
    name = path.name
    data: bytes
    if ".parquet" in name:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
        return path
    if ".jsonl" in name:
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    else:
        text = io.StringIO()
        dialect = "excel-tab" if ".tsv" in name else "excel"
        writer = csv.DictWriter(text, list(rows[0]), dialect=dialect)
        writer.writeheader()
        writer.writerows(rows)
        data = text.getvalue().encode()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    elif name.endswith(".zst"):
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def read(path: Path) -> list[dict[str, Any]]:
    """An output file's rows, as the format gives them back."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with path.open(newline="") as f:
        return list(csv.DictReader(f, dialect="excel-tab" if path.suffix == ".tsv" else "excel"))


def score_in_process(*args: str | Path) -> int:
    """sentiment-score in this process, on one CPU (the tests share two)."""
    return main([str(a) for a in args] + ["--workers", "1", "--quiet"])


def score_in_subprocess(
    *args: str | Path, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """python -m bulk, as a user runs it."""
    result = subprocess.run(
        [sys.executable, "-m", "bulk", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")},
        timeout=300,
        **kwargs,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="session")
def model(tiny_artifact: Path) -> SentimentModel:
    return SentimentModel.load(tiny_artifact, dtype="fp32")


@pytest.fixture(scope="session")
def local_ray() -> Any:
    """A local Ray of two CPUs, as CI has: one for the scoring actor, one for reads and writes."""
    ray = pytest.importorskip("ray", reason="pip install -e '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
