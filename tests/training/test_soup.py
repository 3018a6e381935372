from pathlib import Path

import pytest
import torch

from model.config import ModelConfig
from model.network import SentimentLSTM
from training.errors import UserError
from training.soup import average_into, check_validation, check_weights, record_validation

SMALL = ModelConfig(vocab_size=30, embedding_dim=8, hidden_size=6)


def finished_run(folder: Path, model: SentimentLSTM, run_id: str) -> Path:
    folder.mkdir()
    torch.save(model.state_dict(), folder / "best.pt")
    torch.save({"run_id": run_id}, folder / "last.pt")
    return folder


def test_the_soup_is_the_mean_of_the_runs_best_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    mine, a, b = SentimentLSTM(SMALL), SentimentLSTM(SMALL), SentimentLSTM(SMALL)
    expected = {
        k: (mine.state_dict()[k] + a.state_dict()[k] + b.state_dict()[k]) / 3
        for k in a.state_dict()
    }
    folders = [finished_run(tmp_path / "a", a, "run-a"), finished_run(tmp_path / "b", b, "run-b")]
    added = average_into(mine, folders)
    assert [x["run_id"] for x in added] == ["run-a", "run-b"]
    for name, value in mine.state_dict().items():
        if value.is_floating_point():  # the rest (the calibration's length edges) stays as it was
            assert torch.allclose(value, expected[name], atol=1e-6), name
    assert not torch.equal(mine.state_dict()["head.weight"], a.state_dict()["head.weight"])


def test_a_soup_of_unfinished_or_other_networks_is_refused(tmp_path: Path) -> None:
    mine = SentimentLSTM(SMALL)
    with pytest.raises(UserError, match="no best.pt"):
        average_into(mine, [tmp_path])
    wider = SentimentLSTM(ModelConfig(vocab_size=30, embedding_dim=8, hidden_size=7))
    with pytest.raises(UserError, match="another network"):
        average_into(mine, [finished_run(tmp_path / "wide", wider, "w")])


def test_a_weighted_soup_leans_towards_the_heavier_run(tmp_path: Path) -> None:
    torch.manual_seed(1)
    mine, a = SentimentLSTM(SMALL), SentimentLSTM(SMALL)
    expected = {k: 0.25 * v + 0.75 * a.state_dict()[k] for k, v in mine.state_dict().items()}
    added = average_into(mine, [finished_run(tmp_path / "a", a, "run-a")], [1.0, 3.0])
    assert added == [{"folder": str(tmp_path / "a"), "run_id": "run-a", "weight": 0.75}]
    for name, value in mine.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, expected[name], atol=1e-6), name


@pytest.mark.parametrize(
    ("weights", "folders", "message"),
    [
        ([1.0], 1, "1 given for 2 models"),
        ([1.0, 0.0], 1, "positive"),
        ([1.0, float("nan")], 1, "positive"),
        ([1.0], 0, "no --soup folders"),
    ],
)
def test_bad_soup_weights_are_refused(weights: list[float], folders: int, message: str) -> None:
    with pytest.raises(UserError, match=message):
        check_weights(weights, [Path(f"run{i}") for i in range(folders)])


def test_a_soup_checks_the_validation_reviews_its_runs_recorded(tmp_path: Path) -> None:
    same, other, old, broken = (tmp_path / name for name in ("same", "other", "old", "broken"))
    record_validation(same, "abc")
    record_validation(other, "def")
    old.mkdir()
    broken.mkdir()
    (broken / "validation.json").write_text("{not json")
    check_validation([same, old], "abc")  # a run from before the record is let through
    with pytest.raises(UserError, match="validated on other reviews"):
        check_validation([same, other], "abc")
    with pytest.raises(UserError, match="unreadable"):
        check_validation([broken], "abc")
