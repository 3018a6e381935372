"""--resume: a run killed at a random point, or stopped with Ctrl-C, continues where it stopped;
the output has every input row once, as an uninterrupted run writes it, and no output file
exists until it is whole."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bulk.conftest import ROOT, read, reviews, score_in_process, score_in_subprocess, write

ROWS = reviews(20_000, seed=7)
PART_ROWS = 100  # 200 parts


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("in") / "in.csv", ROWS)


def run(source: Path, out: Path, artifact: Path) -> list[str | Path | int]:
    """The run every test interrupts and resumes: 200 parts of 100 rows, in fp32."""
    return [source, "-o", out, "--model", artifact, "--part-rows", PART_ROWS, "--dtype", "fp32"]


@pytest.fixture(scope="module")
def uninterrupted(source: Path, tiny_artifact: Path) -> bytes:
    out = source.with_name("whole.csv")
    score_in_subprocess(*run(source, out, tiny_artifact), "--quiet")
    return out.read_bytes()


def start(source: Path, out: Path, artifact: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")}
    command = [sys.executable, "-m", "bulk", *map(str, run(source, out, artifact)), *extra]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stderr=subprocess.PIPE, preexec_fn=_ctrl_c_as_a_terminal
    )


def _ctrl_c_as_a_terminal() -> None:
    """SIGINT handled as a terminal's Ctrl-C is, even where the tests run under nohup or as a
    background job, which start their children with it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def parts_of(out: Path) -> int:
    folder = out.with_name(out.name + ".parts")
    return len(list(folder.glob("part-*"))) if folder.exists() else 0


def wait_for_parts(process: subprocess.Popen[bytes], out: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while parts_of(out) < count:
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no parts written"
        time.sleep(0.005)


def test_a_run_killed_at_a_random_point_resumes_without_losing_or_repeating_a_row(
    source: Path, tiny_artifact: Path, uninterrupted: bytes, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    at = random.Random(seed).randint(1, 150)
    out = tmp_path / "out.csv"
    process = start(source, out, tiny_artifact, "--workers", "2")
    wait_for_parts(process, out, at)
    time.sleep(random.Random(seed).random() * 0.05)  # anywhere in the next part, too
    process.kill()
    process.wait()
    assert not out.exists(), f"seed {seed}: the run finished before the kill"
    done_before = parts_of(out)
    resumed = score_in_subprocess(*run(source, out, tiny_artifact), "--resume")
    rows = read(out)
    ids = [r["id"] for r in rows]
    assert len(rows) == len(ROWS) and len(set(ids)) == len(ids), f"seed {seed}"
    assert ids == [r["id"] for r in ROWS], f"seed {seed}"
    assert out.read_bytes() == uninterrupted, f"seed {seed}"
    assert f"{done_before * PART_ROWS:,} rows were already done" in resumed.stderr
    assert not out.with_name("out.csv.parts").exists()


def test_ctrl_c_stops_with_the_command_that_continues(
    source: Path, tiny_artifact: Path, uninterrupted: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    process = start(source, out, tiny_artifact, "--workers", "1")
    wait_for_parts(process, out, 3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert b"interrupted; continue with the same command and --resume" in err
    assert not out.exists() and parts_of(out) >= 3
    assert score_in_process(*run(source, out, tiny_artifact), "--resume") == 0
    assert out.read_bytes() == uninterrupted


def test_a_resume_with_other_settings_is_refused(
    source: Path, tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    process = start(source, out, tiny_artifact, "--workers", "1")
    wait_for_parts(process, out, 1)
    process.kill()
    process.wait()
    common = [source, "-o", out, "--model", tiny_artifact, "--dtype", "fp32"]
    assert score_in_process(*common, "--part-rows", "50", "--resume") == 2
    said = capsys.readouterr().err
    assert "--resume: the interrupted run" in said and "part_rows (100, now 50)" in said
    assert score_in_process(*common, "--part-rows", PART_ROWS) == 2  # parts left: say so
    assert "continue it with the same command and --resume" in capsys.readouterr().err
    assert score_in_process(*common, "--part-rows", "50", "--overwrite") == 0
    assert len(read(out)) == len(ROWS) and not out.with_name("out.csv.parts").exists()
    assert score_in_process(*common, "--part-rows", "50", "--resume") == 0  # nothing to do
    assert len(read(out)) == len(ROWS)


def test_a_changed_input_is_not_resumed(
    tmp_path: Path, tiny_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path / "in.jsonl", ROWS[:300])
    out = tmp_path / "out.jsonl"
    folder = out.with_name("out.jsonl.parts")
    common = [source, "-o", out, "--model", tiny_artifact, "--part-rows", PART_ROWS]
    assert score_in_process(*common) == 0
    out.unlink()
    folder.mkdir()  # as if interrupted: a manifest and no part
    (folder / "manifest.json").write_text('{"inputs": []}')
    assert score_in_process(*common, "--resume") == 2
    assert "another inputs" in capsys.readouterr().err
