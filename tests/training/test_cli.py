import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from model import SentimentModel
from model.text import TextPipeline
from model.vocab import PAD, UNK, Vocab
from tests import synthetic
from tests.precision import pretend_cpu
from training.cli import evaluate_main, train_main
from training.corpus import encode
from training.data import load_split
from training.teacher import span_judge

FAST = [
    "--hidden-size",
    "16",
    "--epochs",
    "25",
    "--batch-size",
    "16",
    "--lr",
    "0.01",
    "--min-freq",
    "1",
    "--max-tokens",
    "64",
    "--device",
    "cpu",
    "--embedding-dropout",
    "0",
    "--dropout",
    "0",
    "--head-dropout",
    "0.1",
    "--patience",
    "25",
]


@pytest.mark.serial  # timed: "inside a minute"
def test_smoke_train_export_load_predict(tmp_path: Path, glove_file: Path) -> None:
    """About a hundred synthetic reviews through the real CLI, well inside a minute."""
    synthetic.write_aclimdb_tar(
        tmp_path / "imdb.tar.gz",
        {"train": synthetic.reviews(120, seed=1), "test": synthetic.reviews(40, seed=2)},
    )
    started = time.perf_counter()
    code = train_main(
        [
            "--data",
            str(tmp_path / "imdb.tar.gz"),
            "--out",
            str(tmp_path / "art"),
            "--glove",
            str(glove_file),
            *FAST,
        ]
    )
    assert code == 0 and time.perf_counter() - started < 60
    model = SentimentModel.load(tmp_path / "art")
    meta = model.metadata
    assert meta["metrics"]["test"]["reviews"] == 40 and meta["metrics"]["test"]["accuracy"] >= 0.9
    assert (
        meta["data"]["splits"]["train"]["reviews"] + meta["data"]["splits"]["validation"]["reviews"]
        == 120
    )
    assert meta["training"]["glove"] == str(glove_file) and meta["libraries"]["torch"]
    assert meta["export_checks"]["batch_invariance_max_abs_diff"] <= 1e-5
    held_out = synthetic.reviews(40, seed=9)
    scores = model.predict([t for t, _ in held_out])
    assert sum((p >= 0.5) == bool(y) for p, (_, y) in zip(scores, held_out, strict=True)) >= 36
    assert not (tmp_path / "art.checkpoints" / "last.pt.tmp").exists()


def test_evaluate_prints_a_table_and_writes_json(
    tiny_artifact: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = evaluate_main(
        [
            "--model",
            str(tiny_artifact),
            "--data",
            str(tiny_data),
            "--split",
            "test",
            "--json",
            str(tmp_path / "m.json"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "accuracy" in out and "confusion (test)" in out
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["metrics"]["reviews"] == 60 and report["split"] == "test"
    stored = SentimentModel.load(tiny_artifact).metadata["metrics"]["test"]["accuracy"]
    assert report["metrics"]["accuracy"] == pytest.approx(stored)  # same data, same scores


def test_training_and_serving_encode_text_identically(tiny_artifact: Path, tiny_data: Path) -> None:
    """The classic skew bug: the ids the network was trained on must be the ids it is served."""
    model = SentimentModel.load(tiny_artifact)
    reviews = load_split([tiny_data], "test")
    trained = encode(TextPipeline(model.artifact.text_config, model.artifact.vocab), reviews)
    assert trained.ids == model.encode([r.text for r in reviews])


def run_train(tmp_path: Path, *args: str) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = train_main([*args, *FAST])
    return code, err.getvalue()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such file or folder"),
        (lambda p: (p / "data").mkdir(), "no train reviews found"),
        (
            lambda p: synthetic.write_csv(p / "data", [("good", 1), ("fine", 1)]),
            "not a folder, tar archive",
        ),
    ],
)
def test_bad_data_exits_with_a_message(tmp_path: Path, setup, message: str) -> None:
    setup(tmp_path)
    code, err = run_train(
        tmp_path, "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")
    )
    assert code == 2 and message in err and "Traceback" not in err


def test_one_class_and_existing_output_and_bad_glove(tmp_path: Path) -> None:
    one_class = synthetic.write_csv(tmp_path / "pos.csv", [("good film", 1)] * 10)
    code, err = run_train(tmp_path, "--data", str(one_class), "--out", str(tmp_path / "out"))
    assert code == 2 and "only positive" in err

    data = synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(40))
    (tmp_path / "exists").mkdir()
    code, err = run_train(tmp_path, "--data", str(data), "--out", str(tmp_path / "exists"))
    assert code == 2 and "already exists" in err

    bad = tmp_path / "g.txt"
    bad.write_text("film 1 2 3\ngood 1 2\n")
    code, err = run_train(
        tmp_path, "--data", str(data), "--out", str(tmp_path / "o2"), "--glove", str(bad)
    )
    assert code == 2 and "g.txt:2" in err and not (tmp_path / "o2").exists()


def test_a_bad_network_flag_exits_with_a_message(tmp_path: Path) -> None:
    data = synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(40))
    code, err = run_train(
        tmp_path, "--data", str(data), "--out", str(tmp_path / "o"), "--num-layers", "0"
    )
    assert code == 2 and "num_layers must be at least 1" in err and "Traceback" not in err


def test_explicit_bf16_is_refused_before_any_data_is_read(
    tmp_path: Path,
    tiny_artifact: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pretend_cpu(monkeypatch, native_bf16=False)
    missing = str(tmp_path / "no-such-data")  # read first, it would fail with another message
    code, err = run_train(tmp_path, "--data", missing, "--out", str(tmp_path / "o"))
    assert code == 2 and "no such file" in err
    code, err = run_train(
        tmp_path, "--data", missing, "--out", str(tmp_path / "o"), "--precision", "bf16"
    )
    assert code == 2 and "--precision bf16" in err and "no native bf16; use auto or fp32" in err
    code = evaluate_main(["--model", str(tiny_artifact), "--data", missing, "--dtype", "bf16"])
    assert code == 2 and "--dtype bf16" in capsys.readouterr().err


def test_evaluate_on_a_missing_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = evaluate_main(["--model", str(tmp_path / "none"), "--data", str(tmp_path)])
    assert code == 2 and "no such artifact directory" in capsys.readouterr().err


def test_module_entry_points() -> None:
    for module in ("training", "training.evaluate"):
        result = subprocess.run(
            [sys.executable, "-m", module, "--help"], capture_output=True, text=True
        )
        assert result.returncode == 0 and "--data" in result.stdout


def test_evaluate_by_source_and_length(
    tiny_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSONL with a source column, as the UCI sentences are: figures by source and length."""
    rows = synthetic.reviews(40, seed=4)
    lines = [
        json.dumps({"source": "a" if i % 2 else "b", "text": t, "label": y})
        for i, (t, y) in enumerate(rows)
    ]
    lines += [json.dumps({"source": "b", "text": w, "label": 1}) for w in ("great", "superb")]
    path = tmp_path / "sentences.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code = evaluate_main(
        ["--model", str(tiny_artifact), "--data", str(path), "--by-length"]
        + ["--json", str(tmp_path / "r.json")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "macro accuracy over sources" in out and "scores of 1-5 token" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["by_source"]) == {"a", "b"}
    assert report["by_source"]["a"]["texts"] == 20 and report["by_source"]["b"]["texts"] == 22
    assert report["by_length"]["1-5"]["texts"] == 2
    assert sum(row["texts"] for row in report["reliability"]) == 42


def test_a_teacher_judges_spans_in_another_vocabulary(tiny_artifact: Path) -> None:
    teacher = SentimentModel.load(tiny_artifact)
    words = teacher.artifact.vocab.tokens[2:]
    mine = Vocab([PAD, UNK, "unheard-of", *reversed(words)])
    judge, version = span_judge(tiny_artifact, mine)
    texts = [words[:5], [*words[3:9], "unheard-of"], words[-2:]]
    expected = teacher.score_ids([teacher.artifact.vocab.encode(t) for t in texts])
    assert version == teacher.version
    assert np.allclose(judge([mine.encode(t) for t in texts]), expected, atol=1e-6)
    assert len(set(np.round(expected, 4))) == 3  # the texts tell apart a wrong mapping


def test_training_with_a_teacher_for_its_spans(
    tmp_path: Path, glove_file: Path, tiny_artifact: Path
) -> None:
    data = synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(60))
    teacher = ["--span-rate", "1", "--span-strength", "1", "--span-teacher"]
    code, err = run_train(
        tmp_path, "--data", str(data), "--out", str(tmp_path / "o"), *teacher, str(tiny_artifact)
    )
    assert code == 0, err
    meta = SentimentModel.load(tmp_path / "o").metadata
    assert meta["training"]["span_teacher"] == SentimentModel.load(tiny_artifact).version
    assert meta["training_config"]["spans"]["teacher"] == str(tiny_artifact)
    missing = tmp_path / "no-model"
    code, err = run_train(
        tmp_path, "--data", str(data), "--out", str(tmp_path / "o2"), *teacher, str(missing)
    )
    assert code == 2 and "--span-teacher" in err and "Traceback" not in err


def test_a_soup_averages_in_another_finished_run(tmp_path: Path) -> None:
    data = str(synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(60)))
    a = ("--out", str(tmp_path / "a"), "--seed", "1", "--split-seed", "13")
    assert run_train(tmp_path, "--data", data, *a)[0] == 0
    folder = tmp_path / "a.checkpoints"
    code, err = run_train(
        tmp_path, "--data", data, "--out", str(tmp_path / "b"), "--soup", str(folder)
    )
    assert code == 0, err
    soup = SentimentModel.load(tmp_path / "b").metadata["training"]["soup"]
    run_a = torch.load(folder / "last.pt", weights_only=False)["run_id"]
    assert soup == [{"folder": str(folder), "run_id": run_a, "weight": 0.5}]
    weighted = ("--out", str(tmp_path / "w"), "--soup", str(folder), "--soup-weights", "1", "3")
    code, err = run_train(tmp_path, "--data", data, *weighted)
    assert code == 0, err
    assert SentimentModel.load(tmp_path / "w").metadata["training"]["soup"][0]["weight"] == 0.75
    scaled = ("--out", str(tmp_path / "s"), *weighted[2:4], "--soup-weights", "0.25", "0.75")
    assert run_train(tmp_path, "--data", data, *scaled)[0] == 0
    runs = [SentimentModel.load(tmp_path / n).version.split("-")[-1] for n in ("b", "w", "s")]
    assert runs[0] != runs[1] == runs[2]  # the same weights, however written: one fingerprint
    one_weight = ("--out", str(tmp_path / "x"), *weighted[2:4], "--soup-weights", "1")
    code, err = run_train(tmp_path, "--data", data, *one_weight)
    assert code == 2 and "1 given for 2 models" in err
    other = ("--out", str(tmp_path / "d"), "--seed", "1", "--soup", str(folder))
    code, err = run_train(tmp_path, "--data", data, *other)  # --seed 1 alone: another split
    assert code == 2 and "validated on other reviews" in err and not (tmp_path / "d").exists()
    code, err = run_train(
        tmp_path, "--data", data, "--out", str(tmp_path / "c"), "--soup", str(tmp_path)
    )
    assert code == 2 and "no best.pt" in err and not (tmp_path / "c").exists()


def test_rating_softness_trains_mild_reviews_towards_softer_targets(tmp_path: Path) -> None:
    """Every review rated 4 or 7 stars: with softness 0.3 the targets are 0.3 and 0.7, and no
    model's cross-entropy on them can fall below their entropy (0.611); hard labels can."""
    data = synthetic.write_aclimdb_tar(
        tmp_path / "mild.tar.gz", {"train": synthetic.reviews(60)}, stars=(4, 7)
    )

    def last_loss(name: str, *args: str) -> tuple[float, dict[str, Any]]:
        out = ("--out", str(tmp_path / name))
        code, err = run_train(tmp_path, "--data", str(data), *out, *args)
        assert code == 0, err
        meta = SentimentModel.load(tmp_path / name).metadata
        return meta["training"]["history"][-1]["train_loss"], meta

    soft, meta = last_loss("soft", "--rating-softness", "0.3")
    hard, _ = last_loss("hard")
    assert soft >= 0.61 > 0.4 > hard
    assert meta["training_config"]["rating_softness"] == 0.3
    assert meta["metrics"]["validation"]["accuracy"] >= 0.8  # still learns the labels
    bad = ("--out", str(tmp_path / "bad"), "--rating-softness", "0.5")
    code, err = run_train(tmp_path, "--data", str(data), *bad)
    assert code == 2 and "rating_softness must be in [0, 0.5)" in err


def test_a_split_seed_keeps_the_validation_reviews_across_seeds(tmp_path: Path) -> None:
    data = str(synthetic.write_csv(tmp_path / "r.csv", synthetic.reviews(60)))

    def run(name: str, *args: str) -> dict[str, Any]:
        code, err = run_train(tmp_path, "--data", data, "--out", str(tmp_path / name), *args)
        assert code == 0, err
        return SentimentModel.load(tmp_path / name).metadata

    one = run("one", "--seed", "1", "--split-seed", "5")
    two = run("two", "--seed", "2", "--split-seed", "5")
    three = run("three", "--seed", "3")
    digests = [m["data"]["splits"]["validation"]["sha256"] for m in (one, two, three)]
    assert digests[0] == digests[1] != digests[2]
    # Without the flag the settings read as before it, so older checkpoints still resume.
    assert one["training_config"]["split_seed"] == 5
    assert "split_seed" not in three["training_config"]
