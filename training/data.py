"""Labelled reviews from the aclImdb layout (a folder or a tar archive), CSV or JSONL files.

A source is one of:
  * a folder holding `aclImdb/` or being it: `{train,test}/{pos,neg}/<id>_<rating>.txt`
  * a tar archive of that layout (`.tar.gz`, `.tgz`, `.tar.xz`, `.tar`)
  * a folder holding `train.csv`/`test.csv` or `train.jsonl`/`test.jsonl`
  * one CSV or JSONL file with `text` and `label` columns: it is whatever split is asked for
Several sources can be given together, e.g. the train and test archives of ../shared/data/imdb.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training import sst
from training.config import GROUPINGS
from training.errors import UserError

SPLITS = ("train", "test")
ID_BLOCK = 250  # review ids per validation block (IMDB has at most 30 reviews of a movie)
EXPECTED = (
    "an aclImdb folder or tar archive ({train,test}/{pos,neg}/*.txt), or train/test "
    ".csv/.jsonl files with 'text' and 'label' columns"
)
_ACLIMDB_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2")
_LABELS = {
    "1": 1,
    "pos": 1,
    "positive": 1,
    "true": 1,
    "0": 0,
    "neg": 0,
    "negative": 0,
    "false": 0,
}


@dataclass(frozen=True)
class Review:
    text: str
    label: int  # 1 positive, 0 negative
    key: str  # where it came from, e.g. "train/pos/0_9.txt" or "train.csv:12"
    group: str | None = None  # a table's `source` column, e.g. "amazon": evaluation reports by it


def load_split(sources: Sequence[Path], split: str) -> list[Review]:
    """Every review of `split` across `sources`, sorted by key so the order never varies."""
    reviews: list[Review] = []
    for source in sources:
        reviews.extend(_read_source(Path(source), split))
    if not reviews:
        names = ", ".join(str(s) for s in sources)
        raise UserError(f"no {split} reviews found in {names}; expected {EXPECTED}")
    reviews.sort(key=lambda r: r.key)
    check_both_classes(reviews, split)
    return reviews


def has_split(sources: Sequence[Path], split: str) -> bool:
    """Whether any source holds `split` (a single CSV/JSONL file counts only as train)."""
    for source in map(Path, sources):
        if source.is_file() and _is_table(source):
            if split == "train":
                return True
        elif source.is_dir():
            if _table_in_dir(source, split) or _aclimdb_root(source, split):
                return True
        elif is_tar(source) and any(True for _ in _tar_members(source, split)):
            return True
    return False


def check_both_classes(reviews: Sequence[Review], split: str) -> None:
    positives = sum(r.label for r in reviews)
    if positives in (0, len(reviews)):
        only = "positive" if positives else "negative"
        raise UserError(
            f"the {split} split has only {only} reviews ({len(reviews)}); it needs both classes"
        )


def stratified_split(
    reviews: Sequence[Review], fraction: float, seed: int, grouping: str = "random"
) -> tuple[list[Review], list[Review]]:
    """(train, validation): `fraction` of each class, drawn with `seed`, goes to validation.

    grouping "random" draws single reviews. "blocks" draws whole runs of consecutive aclImdb
    review ids: IMDB numbers each movie's reviews (up to 30) consecutively, so a block keeps a
    movie's reviews on one side. A random draw puts the same movies in train and validation,
    and validation then rewards memorising their names: 91.7% on such a split was 88.8% on the
    test split, whose movies are all unseen. "auto" is blocks when every review has an id.
    """
    if not 0.0 < fraction < 1.0:
        raise UserError(f"the validation fraction must be between 0 and 1, got {fraction}")
    if grouping not in GROUPINGS:
        raise UserError(f"validation grouping must be one of {GROUPINGS}, got {grouping!r}")
    by_blocks = grouping == "blocks" or (
        grouping == "auto" and all(_review_id(r) is not None for r in reviews)
    )
    rng = random.Random(seed)
    train: list[Review] = []
    val: list[Review] = []
    for label in (0, 1):
        group = [r for r in reviews if r.label == label]
        n_val = max(1, round(len(group) * fraction))
        if n_val >= len(group):
            raise UserError(
                f"too few reviews of class {label} ({len(group)}) to carve a validation split"
            )
        if by_blocks:
            group.sort(key=lambda r: (_review_id(r) or 0, r.key))
            size = max(1, min(ID_BLOCK, n_val // 5))  # at least five blocks per class
            blocks = [group[i : i + size] for i in range(0, len(group), size)]
            rng.shuffle(blocks)
            group = [r for block in blocks for r in block]
        else:
            rng.shuffle(group)
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    return sorted(train, key=lambda r: r.key), sorted(val, key=lambda r: r.key)


def _review_id(review: Review) -> int | None:
    match = _ACLIMDB_MEMBER.search(review.key)
    return int(match.group(3)) if match else None


def star_rating(review: Review) -> int | None:
    """The aclImdb star rating in the review's file name (1-4 negative, 7-10 positive), if any."""
    match = _ACLIMDB_MEMBER.search(review.key)
    return int(match.group(4)) if match else None


def targets(reviews: Sequence[Review], softness: float = 0.0) -> np.ndarray:
    """Training targets: the labels, or with `softness` > 0 softer for milder star ratings.

    A 4- or 7-star review is mixed; a 1 or 10 is not, and training both to the same 0 or 1
    teaches the model to be as sure of a mild opinion as of a strong one. The target moves
    linearly with the stars from the label (1 and 10) to `softness` (in [0, 0.5)) from it (4 and
    7): with 0.2, a 7 is trained towards 0.8, an 8 towards 0.87. Reviews without a rating (tables)
    keep their label.
    """
    out = np.array([r.label for r in reviews], dtype=np.float64)
    if softness == 0.0:
        return out
    for i, review in enumerate(reviews):
        stars = star_rating(review)
        if stars is None:
            continue
        mildness = (10 - stars if review.label else stars - 1) / 3  # 0 at 1 and 10, 1 at 4 and 7
        out[i] += (-1 if review.label else 1) * softness * min(1.0, max(0.0, mildness))
    return out


def digest(reviews: Sequence[Review]) -> str:
    """SHA-256 over the labels and texts, in order: identifies the data a model saw."""
    h = hashlib.sha256()
    for r in reviews:
        h.update(f"{r.label}\t{r.text}\n".encode())
    return h.hexdigest()


def summarise(reviews: Sequence[Review]) -> dict[str, object]:
    """How many reviews, of which class, and their digest: what the metadata says of a split."""
    positives = sum(r.label for r in reviews)
    return {
        "reviews": len(reviews),
        "positive": positives,
        "negative": len(reviews) - positives,
        "sha256": digest(reviews),
    }


def _read_source(source: Path, split: str) -> list[Review]:
    if not source.exists():
        raise UserError(f"{source}: no such file or folder")
    try:
        if source.is_file() and _is_table(source):
            return _read_table(source, split)
        if source.is_file() and sst.is_treebank(source):  # SST-2: the trees' sentences
            return _read_treebank(source, split)
        if source.is_dir():
            table = _table_in_dir(source, split)
            if table is not None:
                return _read_table(table, split)
            root = _aclimdb_root(source, split)
            return _read_aclimdb_dir(root, split) if root else []
        if is_tar(source):
            return list(_read_tar(source, split))
    except (OSError, tarfile.TarError, EOFError, UnicodeDecodeError) as exc:
        raise UserError(f"{source}: cannot read: {exc}") from exc
    raise UserError(f"{source}: not a folder, tar archive, .csv or .jsonl file")


def _read_treebank(path: Path, split: str) -> list[Review]:
    return [
        Review(text, label, f"{split}:{path.name}:{n:06d}", "sst")
        for n, (text, label) in enumerate(sst.sentences(path))
    ]


def _is_table(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".jsonl")


def is_tar(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_TAR_SUFFIXES)


def _table_in_dir(folder: Path, split: str) -> Path | None:
    for ext in (".csv", ".jsonl"):
        if (folder / f"{split}{ext}").is_file():
            return folder / f"{split}{ext}"
    return None


def _aclimdb_root(folder: Path, split: str) -> Path | None:
    for root in (folder, folder / "aclImdb"):
        if (root / split / "pos").is_dir() or (root / split / "neg").is_dir():
            return root
    return None


def _read_aclimdb_dir(root: Path, split: str) -> list[Review]:
    reviews = []
    for label_name, label in (("neg", 0), ("pos", 1)):
        for path in sorted((root / split / label_name).glob("*.txt")):
            key = f"{split}/{label_name}/{path.name}"
            reviews.append(Review(path.read_text(encoding="utf-8"), label, key))
    return reviews


def _tar_members(
    path: Path, split: str
) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, re.Match]]:
    with tarfile.open(path, "r|*") as tar:  # streaming: one pass over a compressed archive
        for member in tar:
            match = _ACLIMDB_MEMBER.search(member.name)
            if member.isfile() and match and match.group(1) == split:
                yield tar, member, match


def _read_tar(path: Path, split: str) -> Iterator[Review]:
    for tar, member, match in _tar_members(path, split):
        f = tar.extractfile(member)
        assert f is not None  # isfile() members always have data
        label = 1 if match.group(2) == "pos" else 0
        key = f"{split}/{match.group(2)}/{match.group(3)}_{match.group(4)}.txt"
        yield Review(f.read().decode("utf-8"), label, key)


def _read_table(path: Path, split: str) -> list[Review]:
    rows = table_rows(path, ("text", "label"))
    reviews = []
    for line, row in rows:
        where = f"{path.name}:{line}"
        if not isinstance(row, dict) or "text" not in row or "label" not in row:
            raise UserError(f"{where}: each row needs 'text' and 'label' fields")
        text, label = row["text"], _parse_label(row["label"], where)
        if not isinstance(text, str):
            raise UserError(f"{where}: 'text' must be a string, got {type(text).__name__}")
        group = row.get("source")
        if text.strip():
            key = f"{split}:{path.name}:{line:09d}"
            reviews.append(Review(text, label, key, None if group is None else str(group)))
    return reviews


def table_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, Any]]:
    """(line number, row) of a .csv file whose header names `columns`, or of a .jsonl file (each
    row as parsed: the caller checks its fields)."""
    return _csv_rows(path, columns) if path.suffix.lower() == ".csv" else _jsonl_rows(path)


def _csv_rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not set(columns) <= set(reader.fieldnames):
            named = " and ".join(repr(c) for c in columns)
            raise UserError(
                f"{path}: the header must name {named} column{'s' if len(columns) > 1 else ''}, "
                f"got {reader.fieldnames}"
            )
        for row in reader:
            yield reader.line_num, row


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path.name}:{line_no}: not valid JSON: {exc.msg}") from exc


def _parse_label(value: object, where: str) -> int:
    if isinstance(value, (bool, int, float)) and value in (0, 1):
        return int(value)
    label = _LABELS.get(str(value).strip().lower()) if isinstance(value, str) else None
    if label is None:
        raise UserError(f"{where}: label {value!r} is not one of 0/1, neg/pos, negative/positive")
    return label
