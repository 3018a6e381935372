"""Review texts for the load test: tweet-length one-liners and IMDB-length reviews.

By default they are composed from phrase pools with a seeded generator, so a run needs no data
and two runs send the same kind of traffic. `--texts-file` replays real reviews instead (one a
line, e.g. IMDB test reviews), split into short and long by length.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

# A short text is a one-line review or a tweet: about 20 tokens. Longer ones count as long.
SHORT_MAX_CHARS = 200

_OPENERS = [
    "Honestly,",
    "Just watched it:",
    "Saw this last night and",
    "Five minutes in and",
    "My verdict:",
    "Well,",
    "",
]
_SUBJECTS = [
    "the film",
    "this movie",
    "the sequel",
    "the lead actress",
    "the script",
    "the soundtrack",
    "the ending",
    "the whole cast",
]
_POSITIVE = [
    "is wonderful from start to finish",
    "was a delight, funny and moving",
    "is the best thing I have seen this year",
    "kept me gripped, superb work",
    "deserves every award it gets",
]
_NEGATIVE = [
    "is a dull, lifeless mess",
    "was painfully slow and predictable",
    "is the worst thing I have seen this year",
    "made me check my watch every ten minutes",
    "wastes a talented cast on a silly plot",
]
_CLOSERS = ["!", ".", "... 8/10", "... 2/10", " :)", " :(", ". Avoid.", ". Go and see it."]

_SENTENCES = [
    "The first act sets up the characters with more patience than most films allow.",
    "I went in expecting very little, and for the first half hour that is what I got.",
    "The dialogue is clumsy in places, but the actors make the most of it.",
    "The chase through the flooded subway is the best set piece of the year.",
    "The score swells at just the right moments without ever telling you what to feel.",
    "There is nothing here that you have not seen done better elsewhere.",
    "The jokes land with a thud and the romance has no spark at all.",
    "The twist is visible from the opening credits, which drains the tension.",
    "The director seems to have confused loud with exciting and long with epic.",
    "Even the usually reliable supporting cast look bored.",
    "The cinematography is gorgeous, all cold blues and long shadows.",
    "By the final scene I cared about these people more than I expected to.",
    "It is uneven, flawed and overlong, and still worth seeing on a big screen.",
    "Some scenes drag, and the editing could have lost twenty minutes.",
    "The villain is a cardboard cut-out who exists only to make speeches.",
    "My friends loved it; I found it hard to sit through.",
]


@dataclass(frozen=True)
class TextPool:
    short: list[str]
    long: list[str]

    def pick(self, rng: random.Random, long: bool) -> str:
        return rng.choice(self.long if long else self.short)


def short_review(rng: random.Random) -> str:
    verdict = rng.choice(_POSITIVE if rng.random() < 0.5 else _NEGATIVE)
    text = f"{rng.choice(_OPENERS)} {rng.choice(_SUBJECTS)} {verdict}{rng.choice(_CLOSERS)}"
    text = text.strip()
    return text[0].upper() + text[1:]


def long_review(rng: random.Random, sentences: int | None = None) -> str:
    """An IMDB-style review: 8 to 60 sentences (about 100 to 750 words) in paragraphs
    separated by <br /><br />, as the IMDB reviews are."""
    n = sentences or rng.randint(8, 60)
    body = [rng.choice(_SENTENCES) for _ in range(n)]
    paragraphs = [" ".join(body[i : i + 5]) for i in range(0, n, 5)]
    return "<br /><br />".join(paragraphs) + f"<br /><br />{rng.randint(1, 10)}/10"


def generated_pool(seed: int = 0, size: int = 200) -> TextPool:
    rng = random.Random(seed)
    return TextPool(
        short=[short_review(rng) for _ in range(size)],
        long=[long_review(rng) for _ in range(size)],
    )


def file_pool(path: Path) -> TextPool:
    """Non-empty lines of a UTF-8 file, split by length into short and long texts."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [line for line in lines if line]
    short = [t for t in texts if len(t) <= SHORT_MAX_CHARS]
    long = [t for t in texts if len(t) > SHORT_MAX_CHARS]
    if not short or not long:
        raise ValueError(
            f"{path}: need texts of both kinds, up to {SHORT_MAX_CHARS} characters and longer "
            f"(found {len(short)} short and {len(long)} long)"
        )
    return TextPool(short=short, long=long)
