"""The benchmark's two text sets, from the IMDB test split: long (whole reviews, as users send
them) and short (each review's first 20 words: a one-line review or a tweet, ~20 tokens)."""

from __future__ import annotations

import random
import re
from pathlib import Path

from training.data import load_split

DEFAULT_IMDB = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "imdb" / "aclImdb_test.tar.xz"
)
SHORT_WORDS = 20
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def load_texts(imdb: Path, count: int, seed: int = 0) -> dict[str, list[str]]:
    """{"short": [...], "long": [...]}: `count` of each, drawn with `seed` from the test split."""
    if not imdb.exists():
        raise SystemExit(
            f"{imdb}: no IMDB test data; pass --imdb PATH (the aclImdb folder or a tar archive)"
        )
    reviews = [r.text for r in load_split([imdb], "test")]
    random.Random(seed).shuffle(reviews)
    long = reviews[:count]
    short = [
        " ".join(_BREAK.sub(" ", text).split()[:SHORT_WORDS]) for text in reviews[count : 2 * count]
    ]
    return {"short": short, "long": long}
