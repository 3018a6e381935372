import json
import shutil
from pathlib import Path

import pytest
import torch

from model import (
    ArtifactError,
    SentimentModel,
    Vocab,
    bundled_model_path,
    load_artifact,
    save_artifact,
)
from model.artifact import FORMAT_VERSION, read_metadata
from model.config import ModelConfig, TextConfig
from model.network import SentimentLSTM
from training.export import script


def tiny_program() -> torch.jit.ScriptModule:
    return script(SentimentLSTM(ModelConfig(vocab_size=4, embedding_dim=3, hidden_size=2)).eval())


VOCAB = Vocab(["<pad>", "<unk>", "good", "bad"])
META = {
    "model_version": "t-1",
    "model_config": ModelConfig(vocab_size=4, embedding_dim=3, hidden_size=2).to_dict(),
    "text_config": TextConfig().to_dict(),
}


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return save_artifact(tmp_path / "art", tiny_program(), VOCAB, META)


def test_round_trip(artifact: Path) -> None:
    loaded = load_artifact(artifact)
    assert loaded.version == "t-1" and loaded.vocab.tokens == VOCAB.tokens
    assert loaded.metadata["format_version"] == FORMAT_VERSION
    assert set(loaded.metadata["files"]) == {"model.pt", "vocab.json"}
    assert loaded.program(torch.tensor([[2, 3]]), torch.tensor([2])).shape == (1,)


def test_output_that_exists_is_refused(artifact: Path) -> None:
    with pytest.raises(ArtifactError, match="already exists"):
        save_artifact(artifact, tiny_program(), VOCAB, META)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def reject(folder: Path) -> None:
        raise RuntimeError("check failed")

    with pytest.raises(RuntimeError):
        save_artifact(tmp_path / "art", tiny_program(), VOCAB, META, verify=reject)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["model.pt", "vocab.json", "metadata.json"])
def test_missing_file_is_named(artifact: Path, name: str) -> None:
    (artifact / name).unlink()
    with pytest.raises(ArtifactError, match=f"missing {name}"):
        load_artifact(artifact)


@pytest.mark.parametrize("name", ["model.pt", "vocab.json"])
def test_changed_file_is_named(artifact: Path, name: str) -> None:
    with (artifact / name).open("ab") as f:
        f.write(b" ")
    with pytest.raises(ArtifactError, match=f"{name}: SHA-256 does not match"):
        load_artifact(artifact)


def edit_metadata(artifact: Path, **changes: object) -> None:
    meta = json.loads((artifact / "metadata.json").read_text())
    meta.update(changes)
    (artifact / "metadata.json").write_text(json.dumps(meta))


def test_newer_format_is_refused(artifact: Path) -> None:
    edit_metadata(artifact, format_version=FORMAT_VERSION + 1)
    with pytest.raises(ArtifactError, match="newer than this code reads"):
        load_artifact(artifact)


def test_unknown_keys_from_a_newer_minor_version_are_ignored(artifact: Path) -> None:
    meta = json.loads((artifact / "metadata.json").read_text())
    meta["model_config"]["future_knob"] = 3
    meta["something_new"] = {"x": 1}
    (artifact / "metadata.json").write_text(json.dumps(meta))
    assert load_artifact(artifact).model_config.hidden_size == 2


def test_inconsistent_vocabulary_size(artifact: Path) -> None:
    meta = json.loads((artifact / "metadata.json").read_text())
    meta["model_config"]["vocab_size"] = 5
    (artifact / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(
        ArtifactError, match="vocab.json: 4 tokens, but metadata.json says vocab_size 5"
    ):
        load_artifact(artifact)


def test_bad_metadata(artifact: Path) -> None:
    (artifact / "metadata.json").write_text("{broken")
    with pytest.raises(ArtifactError, match="metadata.json: not readable JSON"):
        read_metadata(artifact)
    (artifact / "metadata.json").write_text('{"model_version": "x"}')
    with pytest.raises(ArtifactError, match="missing keys"):
        read_metadata(artifact)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such artifact directory"):
        load_artifact(tmp_path / "nothing")


def test_corrupt_program_is_named(artifact: Path) -> None:
    (artifact / "model.pt").write_bytes(b"not a zip")
    edit_metadata(
        artifact,
        files={
            **json.loads((artifact / "metadata.json").read_text())["files"],
            "model.pt": __import__("hashlib").sha256(b"not a zip").hexdigest(),
        },
    )
    with pytest.raises(ArtifactError, match="model.pt: not a loadable TorchScript program"):
        load_artifact(artifact)


def test_artifact_is_readable_by_other_users(artifact: Path) -> None:
    assert artifact.stat().st_mode & 0o005 == 0o005  # containers run the service as another user


def test_copy_of_an_artifact_loads_anywhere(artifact: Path, tmp_path: Path) -> None:
    shutil.copytree(artifact, tmp_path / "elsewhere")
    assert SentimentModel.load(tmp_path / "elsewhere").version == "t-1"


@pytest.mark.skipif(not bundled_model_path().is_dir(), reason="no bundled model in this checkout")
def test_bundled_model_loads_and_separates_clear_cases() -> None:
    model = SentimentModel.load()
    assert model.metadata["metrics"]["test"]["accuracy"] >= 0.90
    good, bad = model.predict(
        ["A wonderful, moving film with superb acting.", "Dull, boring and a waste of time."]
    )
    assert good > 0.8 and bad < 0.2
