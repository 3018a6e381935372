"""Small synthetic data for the tests: reviews whose sentiment words decide the label, and the
file layouts the loaders read (aclImdb folders and tarballs, CSV, JSONL)."""

from __future__ import annotations

import csv
import io
import json
import random
import tarfile
from pathlib import Path

POSITIVE = [
    "wonderful",
    "great",
    "superb",
    "moving",
    "brilliant",
    "delightful",
    "excellent",
    "charming",
]
NEGATIVE = ["dull", "awful", "boring", "terrible", "tedious", "bad", "dreadful", "lifeless"]
FILLER = [
    "the",
    "film",
    "plot",
    "actors",
    "story",
    "scenes",
    "director",
    "was",
    "and",
    "a",
    "of",
    "it",
    "this",
    "movie",
    "its",
    "cast",
]


def review(label: int, rng: random.Random, length: int | None = None) -> str:
    """Filler words with three sentiment words of the label's class and an IMDB-style <br />."""
    words = [rng.choice(FILLER) for _ in range(length or rng.randint(6, 40))]
    for _ in range(3):
        words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
    return " ".join(words).capitalize() + ".<br /><br />The end."


def reviews(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """n (text, label) pairs, alternating labels."""
    rng = random.Random(seed)
    return [(review(i % 2, rng), i % 2) for i in range(n)]


def write_aclimdb(
    root: Path, splits: dict[str, list[tuple[str, int]]], stars: tuple[int, int] = (2, 8)
) -> Path:
    """An aclImdb/ tree under root: {split}/{pos,neg}/{id}_{rating}.txt, every negative review
    rated stars[0] and every positive one stars[1]."""
    base = root / "aclImdb"
    for split, rows in splits.items():
        for i, (text, label) in enumerate(rows):
            folder = base / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_{stars[label]}.txt").write_text(text, encoding="utf-8")
    return base


def write_aclimdb_tar(
    path: Path, splits: dict[str, list[tuple[str, int]]], stars: tuple[int, int] = (2, 8)
) -> Path:
    """The same tree as a tar archive; compression from the suffix (.tar.gz, .tar.xz)."""
    mode = "w:xz" if path.name.endswith(".xz") else "w:gz" if path.name.endswith("gz") else "w"
    with tarfile.open(path, mode) as tar:
        for split, rows in splits.items():
            for i, (text, label) in enumerate(rows):
                data = text.encode("utf-8")
                info = tarfile.TarInfo(
                    f"aclImdb/{split}/{'pos' if label else 'neg'}/{i}_{stars[label]}.txt"
                )
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def write_csv(path: Path, rows: list[tuple[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def write_trees(path: Path, trees: list[str]) -> Path:
    """A Sentiment Treebank file: one bracketed tree per line (training/sst.py)."""
    path.write_text("".join(tree + "\n" for tree in trees), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[tuple[str, object]]) -> Path:
    path.write_text(
        "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows), encoding="utf-8"
    )
    return path
