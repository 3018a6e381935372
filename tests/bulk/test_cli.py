"""sentiment-score on files, as a user runs it: every output format, ids kept as they are, the
model's own scores, refusals with their reasons, errors that say what to do, and a --help that
answers without torch."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bulk.cli import main
from bulk.scoring import ADDED
from model import SentimentModel
from tests.bulk.conftest import (
    MAX_CHARS,
    ROOT,
    read,
    reviews,
    score_in_process,
    score_in_subprocess,
    write,
)
from tests.precision import pretend_cpu

# No Ray, no server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel

ROWS = reviews(120, seed=1)
LIMIT = ["--max-text-chars", str(MAX_CHARS)]


def expected(model: SentimentModel, rows: list[dict]) -> dict[str, tuple]:
    """id -> (score, error) as SentimentModel and model.limits give them."""
    out = {}
    for row in rows:
        text = row["text"]
        if not text.strip() or text.strip() == "<br />":
            out[row["id"]] = (None, "empty_text")
        elif len(text) > MAX_CHARS:
            out[row["id"]] = (None, "text_too_long")
        else:
            out[row["id"]] = (model.predict([text])[0], None)
    return out


@pytest.mark.parametrize("output", ["out.csv", "out.tsv", "out.jsonl", "out.parquet"])
def test_each_row_gets_the_models_score_or_its_reason(
    tmp_path: Path, model: SentimentModel, tiny_artifact: Path, output: str
) -> None:
    source = write(tmp_path / "in.csv", ROWS)
    out = tmp_path / output
    flags = ["--model", tiny_artifact, "--dtype", "fp32", "--part-rows", "16", *LIMIT]
    assert score_in_process(source, "-o", out, *flags) == 0
    rows = read(out)
    assert [r["id"] for r in rows] == [r["id"] for r in ROWS]  # every row, in input order
    assert list(rows[0]) == ["id", *ADDED]  # the text is not kept by default
    want = expected(model, ROWS)
    assert {e for _, e in want.values()} == {None, "empty_text", "text_too_long"}
    for row in rows:
        score, error = want[row["id"]]
        if error is None:
            assert float(row["score"]) == pytest.approx(score, abs=1e-5)
            assert row["label"] == ("positive" if score >= 0.5 else "negative")
            assert row["error"] in (None, "")
        else:
            assert row["error"] == error and row["score"] in (None, "") and row["error_message"]
        assert row["model_version"] == model.version
    assert not (tmp_path / f"{output}.parts").exists()


def test_a_parquet_input_keeps_its_column_types(tmp_path: Path, tiny_artifact: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    table = pa.table(
        {
            "n": pa.array(range(40), pa.int32()),
            "text": [r["text"] for r in ROWS[:40]],
            "at": pa.array([when] * 40, pa.timestamp("ms")),
            "tags": [["a", "b"]] * 40,
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    out = tmp_path / "out.parquet"
    flags = ["--model", tiny_artifact, "--part-rows", "16", "--keep-text"]
    assert score_in_process(tmp_path / "in.parquet", "-o", out, *flags) == 0
    scored = pq.read_table(out)
    assert scored.schema.field("n").type == pa.int32()
    assert scored.schema.field("at").type == pa.timestamp("ms")
    assert scored.column("tags").to_pylist() == [["a", "b"]] * 40
    assert scored.column("text").to_pylist() == table.column("text").to_pylist()
    assert scored.schema.field("score").type == pa.float64()


def test_jsonl_keeps_each_rows_own_keys_and_values(tmp_path: Path, tiny_artifact: Path) -> None:
    rows = [
        {"id": 1, "text": "great film", "meta": {"a": [1, 2]}},
        {"text": "dull"},
        {"id": 3, "text": None},
        {"id": 4, "text": 12},
        {"id": 5},
    ]
    out = tmp_path / "out.jsonl"
    source = write(tmp_path / "in.jsonl", rows)
    assert score_in_process(source, "-o", out, "--model", tiny_artifact) == 0
    got = read(out)
    assert got[0]["meta"] == {"a": [1, 2]} and got[0]["id"] == 1 and "id" not in got[1]
    assert [r["error"] for r in got] == [None, None, "missing_text", "not_a_string", "missing_text"]


def test_more_workers_write_the_same_file(tmp_path: Path, tiny_artifact: Path) -> None:
    source = write(tmp_path / "in.csv", ROWS)
    for workers in ("1", "2"):
        flags = ["--model", str(tiny_artifact), "--part-rows", "8", "--quiet", "--dtype", "fp32"]
        out = str(tmp_path / f"{workers}.csv")
        assert main([str(source), "-o", out, "--workers", workers, *flags]) == 0
    assert (tmp_path / "1.csv").read_bytes() == (tmp_path / "2.csv").read_bytes()


def test_stdout_gets_the_rows_in_input_order(tmp_path: Path, tiny_artifact: Path) -> None:
    source = write(tmp_path / "in.jsonl", ROWS)
    done = score_in_subprocess(
        source,
        "--model",
        tiny_artifact,
        "--part-rows",
        "8",
        "--workers",
        "2",
        "--output-format",
        "csv",
    )
    lines = done.stdout.splitlines()
    assert lines[0] == ",".join(["id", *ADDED]) and len(lines) == len(ROWS) + 1
    assert [line.split(",")[0] for line in lines[1:]] == [r["id"] for r in ROWS]
    assert f"{len(ROWS)} rows in" in done.stderr  # the summary, on stderr


def failure(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    assert score_in_process(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("sentiment-score: error: ") and err.count("\n") == 1
    return err


def test_mistakes_stop_the_run_with_the_fix(
    tmp_path: Path, tiny_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "in.csv", ROWS)
    model = ["--model", tiny_artifact]
    assert "--text-column" in failure(capsys, source, "--text-column", "body", *model)
    (tmp_path / "out.csv").write_text("precious")
    assert "--overwrite" in failure(capsys, source, "-o", tmp_path / "out.csv", *model)
    assert (tmp_path / "out.csv").read_text() == "precious"
    assert "needs --output" in failure(capsys, source, "--resume", *model)
    assert ".parquet" in failure(capsys, source, "-o", tmp_path / "out.xlsx", *model)
    clash = write(tmp_path / "scored.csv", [{"text": "fine", "score": "1"}])
    assert "'score', which scoring adds" in failure(capsys, clash, *model)
    assert "no such file" in failure(capsys, tmp_path / "nope.csv", *model)
    assert "--model" in failure(capsys, source, "--model", tmp_path)


def test_a_csv_output_has_one_header(
    tmp_path: Path, tiny_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "in.jsonl", [{"text": "good"}, {"text": "bad", "id": 2}])
    said = failure(capsys, source, "-o", tmp_path / "out.csv", "--model", tiny_artifact)
    assert "'id', which the first row has not" in said and ".jsonl or .parquet" in said


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_refused(
    tmp_path: Path, tiny_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    said = failure(
        capsys, write(tmp_path / "in.csv", ROWS), "--model", tiny_artifact, "--device", "cuda"
    )
    assert "--device: device 'cuda' was asked for, but torch sees no CUDA device" in said


def test_bf16_where_the_cpu_lacks_it_is_refused(
    tmp_path: Path,
    tiny_artifact: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pretend_cpu(monkeypatch, native_bf16=False)
    said = failure(
        capsys,
        write(tmp_path / "in.csv", ROWS),
        "--model",
        tiny_artifact,
        "--device",
        "cpu",
        "--dtype",
        "bf16",
    )
    assert "--dtype: dtype 'bf16' was asked for, but this CPU has no native bf16" in said


def test_cuda_runs_one_batch_at_a_time_on_every_cpu() -> None:
    from service.engine.threads import Parallelism, split_cpus

    assert split_cpus(8, cuda=True) == Parallelism(1, 8)
    assert split_cpus(2, cuda=False) == Parallelism(2, 1)
    assert split_cpus(16, cuda=False) == Parallelism(4, 4)


HEAVY = {"torch", "spacy", "numpy", "ray", "pyarrow", "starlette", "fastapi", "uvicorn"}


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_answer_without_torch(flag: str) -> None:
    code = (
        "import contextlib, io, sys\n"
        "from bulk.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        main([{flag!r}])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(repr(out.getvalue()))\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    *said, loaded = done.stdout.splitlines()
    assert "sentiment-score" in "\n".join(said)
    assert "bulk" in loaded.split() and not HEAVY & set(loaded.split())


def test_the_summary_json_counts_rows_and_reasons(tmp_path: Path, tiny_artifact: Path) -> None:
    summary = tmp_path / "summary.json"
    source, flags = write(tmp_path / "in.csv", ROWS), ["--summary-json", summary, *LIMIT]
    assert (
        score_in_process(source, "-o", tmp_path / "o.jsonl", "--model", tiny_artifact, *flags) == 0
    )
    said = json.loads(summary.read_text())
    assert said["rows"] == len(ROWS) and said["refused"] == {"empty_text": 2, "text_too_long": 1}
    assert said["scored"] == len(ROWS) - 3 and said["seconds"] > 0


def test_a_slim_install_scores_csv_and_names_the_extra_for_parquet(
    tmp_path: Path, tiny_artifact: Path
) -> None:
    """pyarrow, zstandard and ray made unimportable, as after `pip install -e .`."""
    source = write(tmp_path / "in.csv.gz", ROWS)
    parquet = write(tmp_path / "in.parquet", ROWS)
    slim = (
        "import sys\n"
        "sys.modules.update(dict.fromkeys(['pyarrow', 'zstandard', 'ray', 'pandas'], None))\n"
        "from bulk.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    common = ["--model", str(tiny_artifact), "--quiet", "--workers", "1"]
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", slim, str(source), "-o", str(out), *common],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert len(read(out)) == len(ROWS)
    for args in ([str(parquet)], [str(source), "-o", str(tmp_path / "out.parquet")]):
        done = subprocess.run(
            [sys.executable, "-c", slim, *args, *common], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 2
        assert "needs the pyarrow package" in done.stderr
        assert "pip install 'sentiment-service[bulk]'" in done.stderr


def test_a_lone_surrogate_is_refused_and_every_output_stays_readable(
    tmp_path: Path, tiny_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "bad \\ud800 text"}\n{"id": 2, "text": "good film"}\n')
    common = ["--model", tiny_artifact, "--keep-text"]
    for name in ("out.csv", "out.jsonl"):
        assert score_in_process(source, "-o", tmp_path / name, *common) == 0
        rows = read(tmp_path / name)
        assert [r["error"] for r in rows][0] == "invalid_text" and "\\ud800" in str(rows[0])
    said = failure(capsys, source, "-o", tmp_path / "out.parquet", *common)
    assert "lone surrogate: write .jsonl" in said
