"""Cleaning, the text pipeline's first step: HTML line breaks to spaces, unicode to NFC, invisible
characters out. `clean()` is the hot path; `clean_aligned()` gives the same string together with
an Alignment that maps each of its characters back to the text as the client sent it, so that a
token can be shown where it stands in the original (the /explain spans).

All of it runs in linear time: one regular-expression pass per step, none of them able to
backtrack, and NFC in C on text whose runs of combining marks are at most 30 long.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

from model import unicode_tables

# <br />, <br>, <BR/>, <p>, </p>, <hr>: the line breaks that IMDB reviews (and pasted web text)
# carry. Other markup is left to the tokenizer: it is rare, and stripping it blindly would eat
# text such as "a <3 film". Written so that no two parts can match the same spaces: the
# equivalent <\s*(?:br|p|/p|hr)\s*/?\s*> backtracks quadratically ("<br" and 20,000 spaces
# took 0.47 s).
HTML_BREAK = re.compile(r"<\s*(?:br|p|/p|hr)(?:\s*/)?\s*>", re.IGNORECASE)


def _character_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return (
        "["
        + "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
        + "]"
    )


# Control and format characters other than whitespace: zero-width spaces, BOMs, bidi marks.
INVISIBLE = re.compile(_character_class(unicode_tables.INVISIBLE) + "+")
# Unicode's stream-safe text format (UAX #15) allows at most 30 combining marks in a row; NFC's
# canonical reordering is quadratic in the length of a run (20,000 marks took 0.6 s), so marks
# past the 30th are dropped before NFC. No real text has such runs, "Zalgo" text aside.
MAX_COMBINING_RUN = 30
EXCESS_COMBINING = re.compile(
    f"(?<={_character_class(unicode_tables.COMBINING)}{{{MAX_COMBINING_RUN}}})"
    + _character_class(unicode_tables.COMBINING)
    + "+"
)
_WORDS_AND_SPACES = re.compile(r"\s+|\S+")
_VISIBLE = re.compile(r"[^\s" + _character_class(unicode_tables.INVISIBLE)[1:-1] + "]")


def has_visible_text(text: str) -> bool:
    """Whether anything is left to read once `text` is cleaned: a character that is not
    whitespace, not invisible and not part of an HTML line break. Costs a regular-expression
    search, not a cleaning (NFC does not make characters appear or vanish)."""
    first = _VISIBLE.search(text)
    if first is None:
        return False
    if text[first.start()] != "<":  # a line break starts with the first visible "<"
        return True
    return _VISIBLE.search(HTML_BREAK.sub(" ", text)) is not None


def clean(text: str) -> str:
    """HTML line breaks to spaces, unicode in NFC form, invisible characters removed."""
    text = HTML_BREAK.sub(" ", text)
    if not unicodedata.is_normalized("NFC", text):  # a quick check; nearly every text is NFC
        text = unicodedata.normalize("NFC", EXCESS_COMBINING.sub("", text))
    return INVISIBLE.sub("", text)


@dataclass(frozen=True)
class Alignment:
    """Maps positions of a derived string back to the string it came from.

    The derived string is a sequence of segments. A segment `i` starts at `starts[i]` in the
    derived string and came from `sources[i]` = (start, end) in the original; `exact[i]` says
    that it was copied character for character (so its k-th character is the original's
    start + k), otherwise the whole segment stands for the whole source range.
    """

    starts: tuple[int, ...]
    sources: tuple[tuple[int, int], ...]
    exact: tuple[bool, ...]
    parent: Alignment | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original characters [a, b) behind derived characters [start, end), end > start."""
        a = self._at(start)[0]
        b = self._at(end - 1)[1]
        return self.parent.span(a, b) if self.parent is not None else (a, b)

    def _at(self, pos: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, pos) - 1
        source_start, source_end = self.sources[i]
        if self.exact[i]:
            k = source_start + pos - self.starts[i]
            return k, k + 1
        return source_start, source_end


def _aligned_sub(
    pattern: re.Pattern[str], replacement: str, text: str, parent: Alignment | None
) -> tuple[str, Alignment]:
    """pattern.sub(replacement, text), with the alignment of the result to `text`."""
    pieces: list[str] = []
    starts: list[int] = []
    sources: list[tuple[int, int]] = []
    exact: list[bool] = []
    at = done = 0

    def add(piece: str, source: tuple[int, int], copied: bool) -> None:
        nonlocal at
        if piece:
            pieces.append(piece)
            starts.append(at)
            sources.append(source)
            exact.append(copied)
            at += len(piece)

    for match in pattern.finditer(text):
        add(text[done : match.start()], (done, match.start()), True)
        add(replacement, match.span(), False)
        done = match.end()
    add(text[done:], (done, len(text)), True)
    return "".join(pieces), _alignment(starts, sources, exact, parent)


def _aligned_nfc(text: str, parent: Alignment | None) -> tuple[str, Alignment]:
    """NFC, word by word and, inside a changed word, character group by character group, so
    that only the characters NFC really merged share a source. Falls back to the whole text as
    one segment if the pieces do not add up to NFC of the whole (no known text does that)."""
    whole = unicodedata.normalize("NFC", text)
    starts: list[int] = []
    sources: list[tuple[int, int]] = []
    exact: list[bool] = []
    at = 0
    for match in _WORDS_AND_SPACES.finditer(text):
        word, offset = match.group(), match.start()
        normal = unicodedata.normalize("NFC", word)
        groups = [(offset, offset + len(word), normal)]
        if normal != word:
            groups = _nfc_groups(word, offset, normal)
        for start, end, piece in groups:
            starts.append(at)
            sources.append((start, end))
            exact.append(piece == text[start:end])
            at += len(piece)
    if at != len(whole) or not starts:
        return whole, _alignment([0], [(0, len(text))], [False], parent)
    return whole, _alignment(starts, sources, exact, parent)


def _nfc_groups(word: str, offset: int, normal: str) -> list[tuple[int, int, str]]:
    """A base character with its combining marks, normalised alone; the whole word if that
    does not give NFC of the word (compositions across starters, as Hangul jamo make)."""
    cuts = [i for i, c in enumerate(word) if i == 0 or unicodedata.combining(c) == 0]
    cuts.append(len(word))
    groups = [
        (offset + a, offset + b, unicodedata.normalize("NFC", word[a:b]))
        for a, b in zip(cuts, cuts[1:], strict=False)
    ]
    if "".join(g[2] for g in groups) != normal:
        return [(offset, offset + len(word), normal)]
    return groups


def _alignment(
    starts: list[int],
    sources: list[tuple[int, int]],
    exact: list[bool],
    parent: Alignment | None,
) -> Alignment:
    if not starts:  # an empty result: nothing to map
        starts, sources, exact = [0], [(0, 0)], [False]
    return Alignment(tuple(starts), tuple(sources), tuple(exact), parent)


def clean_aligned(text: str) -> tuple[str, Alignment]:
    """clean(text), and the alignment of its characters to `text`."""
    step, alignment = _aligned_sub(HTML_BREAK, " ", text, None)
    if not unicodedata.is_normalized("NFC", step):
        step, alignment = _aligned_sub(EXCESS_COMBINING, "", step, alignment)
        step, alignment = _aligned_nfc(step, alignment)
    return _aligned_sub(INVISIBLE, "", step, alignment)
