import io
import tarfile
from pathlib import Path

import pytest

from tests import synthetic
from training.errors import UserError
from training.unlabeled import drop_copies, load_unlabeled

TEXTS = ["first unlabeled review", "second one<br />with a break", "first unlabeled review", "3rd"]


def write_tar(path: Path, texts: list[str], labelled: bool = True) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        members = [(f"aclImdb/train/unsup/{i}_0.txt", t) for i, t in enumerate(texts)]
        if labelled:  # labelled reviews in the same archive are not unlabeled texts
            members.append(("aclImdb/train/pos/0_9.txt", "a labelled review"))
        for name, text in members:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tar_archive_gives_distinct_unsup_texts_in_order(tmp_path: Path) -> None:
    texts = load_unlabeled([write_tar(tmp_path / "u.tar.gz", TEXTS)])
    assert texts == ["first unlabeled review", "second one<br />with a break", "3rd"]


def test_folder_reads_files_in_numeric_order(tmp_path: Path) -> None:
    folder = tmp_path / "aclImdb" / "train" / "unsup"
    folder.mkdir(parents=True)
    for i in (10, 2, 1):
        (folder / f"{i}_0.txt").write_text(f"text {i}")
    assert load_unlabeled([tmp_path]) == ["text 1", "text 2", "text 10"]


def test_tables_and_several_sources(tmp_path: Path) -> None:
    csv = synthetic.write_csv(tmp_path / "u.csv", [("from csv", 1), ("shared", 0)])
    jsonl = tmp_path / "u.jsonl"
    jsonl.write_text('{"text": "from jsonl"}\n\n{"text": "shared"}\n')
    assert load_unlabeled([csv, jsonl]) == ["from csv", "shared", "from jsonl"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("review\nx\n", "'text' column"), ('{"body": 1}\n', "'text' string"), ("{oops\n", ":1")],
)
def test_bad_tables_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / ("u.csv" if content.startswith("review") else "u.jsonl")
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_unlabeled([path])


def test_a_source_without_unlabeled_texts_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no unlabeled texts"):
        load_unlabeled([write_tar(tmp_path / "u.tar.gz", [])])
    with pytest.raises(UserError, match="no such file"):
        load_unlabeled([tmp_path / "missing"])


def test_copies_of_held_out_texts_are_dropped_and_counted() -> None:
    kept = drop_copies(["a", "b", "c", "d"], {"test": ["b", "x"], "validation": ["c", "b"]})
    assert kept.texts == ["a", "d"]
    assert kept.dropped == {"test": 1, "validation": 2}
