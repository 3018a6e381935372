"""sentiment-train --recipe: every stage from the data to the artifact, in order, each stage
done once; an interrupted recipe goes on where it stopped."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests import synthetic
from tests.training.test_pretrain import FAST, write_unsup_tar
from tests.training.test_sst import TREES
from training import recipe
from training.cli import train_main
from training.errors import UserError


def write_recipe(tmp_path: Path, glove: Path, stages: str) -> Path:
    data = synthetic.write_aclimdb_tar(
        tmp_path / "imdb.tar.gz",
        {"train": synthetic.reviews(120, seed=1), "test": synthetic.reviews(40, seed=2)},
    )
    write_unsup_tar(tmp_path / "unsup.tar.gz", [t for t, _ in synthetic.reviews(200, seed=5)])
    synthetic.write_trees(tmp_path / "trees.txt", TREES)
    common = ["--data", str(data), "--glove", str(glove), "--no-test", "--device", "cpu"]
    path = tmp_path / "tiny.toml"
    path.write_text(
        f'name = "tiny"\nout = "{tmp_path / "final"}"\ndata = "{tmp_path}"\n'
        f"common = {json.dumps(common)}\n{stages}"
    )
    return path


STAGES = """
[[stage]]
name = "pretrained"
args = ["--unlabeled", "{data}/unsup.tar.gz", NETWORK]

[[stage]]
name = "fine-tuned"
args = ["--pretrained", "{pretrained}.checkpoints", NETWORK, "--epochs", "2"]

[[stage]]
name = "phrases"
args = ["--init", "{fine-tuned}", "--epochs", "1", "--max-tokens", "64", "--min-freq", "1",
        "--phrases", "{data}/trees.txt", "--phrase-rate", "0.2"]
""".replace("NETWORK", json.dumps(FAST)[1:-1])


def test_a_recipe_runs_every_stage_once_and_resumes(
    tmp_path: Path, glove_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_recipe(tmp_path, glove_file, STAGES)
    work = tmp_path / "work"
    assert train_main(["--recipe", str(path), "--work", str(work)]) == 0
    final = json.loads((tmp_path / "final" / "metadata.json").read_text())
    fine = json.loads((work / "fine-tuned" / "metadata.json").read_text())
    assert final["training"]["init_from"] == fine["model_version"]
    assert final["training_config"]["phrase_rate"] == 0.2
    assert fine["pretraining"] is not None or (work / "pretrained.checkpoints").is_dir()
    # Stopped before the last stage: the same command redoes only that stage.
    done = (work / "fine-tuned" / "metadata.json").stat().st_mtime_ns
    for leftover in (tmp_path / "final",):
        for f in leftover.iterdir():
            f.unlink()
        leftover.rmdir()
    caplog.set_level(logging.INFO, logger="training")
    assert train_main(["--recipe", str(path), "--work", str(work)]) == 0
    assert (work / "fine-tuned" / "metadata.json").stat().st_mtime_ns == done
    assert "stage 1/3 pretrained done" in caplog.text and "stage 2/3 fine-tuned done" in caplog.text
    again = json.loads((tmp_path / "final" / "metadata.json").read_text())
    assert again["model_version"] == final["model_version"]  # seeded: the same run again


def test_a_stage_names_only_earlier_stages(tmp_path: Path, glove_file: Path) -> None:
    path = write_recipe(tmp_path, glove_file, '[[stage]]\nname = "a"\nargs = ["--init", "{b}"]\n')
    with pytest.raises(UserError, match=r"\{b\} names no earlier stage"):
        recipe.plan(recipe.load(path), tmp_path / "work")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nout = "y"\n[[stage]]\nname = "1 2"\n')
    with pytest.raises(UserError, match="needs a new name"):
        recipe.plan(recipe.load(bad), tmp_path)


def test_the_bundled_recipe_plans_from_the_shared_data(tmp_path: Path) -> None:
    stages = recipe.plan(
        recipe.load(Path("recipes/imdb-bilstm.toml")), tmp_path, ("--device", "cuda")
    )
    assert [s.name for s in stages] == [
        "pretrained", "teacher", "sentences", "soup", "refined", "bundled"
    ]  # fmt: skip
    assert all("--device" in s.argv and "--seed" in s.argv for s in stages)
    assert stages[-1].out == Path("model/bundled/imdb-bilstm")
    assert f"{tmp_path}/soup" in stages[-2].argv  # --init {soup}
    assert f"{tmp_path}/refined" in stages[-1].argv  # --init {refined}
    assert all("--no-test" in s.argv for s in stages[:-1])  # the test split is scored once
    assert "--no-test" not in stages[-1].argv
    data = [a for s in stages for a in s.argv if "aclImdb" in a or "/sst/" in a]
    assert data and all(a.startswith("../shared/data/") for a in data)
