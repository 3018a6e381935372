"""Which texts are scored: the checks every way in applies (the service's /predict and
/explain, bulk scoring), so that a text refused by one is refused by all, for the same reason.

A text is scored when it is valid Unicode (no lone UTF-16 surrogates, which a JSON "\\ud800"
escape or a badly decoded file can carry), not longer than the limit, and has something to read
once cleaned (not only whitespace, HTML line breaks and invisible characters). A text over the
limit is refused, or, under the policy "truncate", cut to its first and last halves of the limit:
the model reads only the head and the tail of a text anyway (its first 200 and last 600 tokens,
for the bundled model), which fit in 10,000 characters each for all but pathological texts.

No torch here: the HTTP layer imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.cleaning import has_visible_text

LONG_TEXTS = ("refuse", "truncate")
# Between the head and the tail that truncation keeps: a line break, so that the last word of
# the head and the first of the tail are not read as one.
CUT = "\n"


class TextRefused(ValueError):
    """A text that is not scored; `code` is stable (text_too_long, invalid_text, empty_text)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class Admitted:
    text: str  # the text to score: the one sent, or its head and tail
    truncated: bool  # the middle of a text over the limit was cut out


def admit(text: str, max_chars: int, long_texts: str = "refuse") -> Admitted:
    """The text to score, or TextRefused saying why not (`reason` reads after a field name)."""
    truncated = len(text) > max_chars
    if truncated and long_texts != "truncate":
        raise TextRefused("text_too_long", f"{len(text):,} characters; the limit is {max_chars:,}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise TextRefused(
                "invalid_text",
                f"character {exc.start} is a lone UTF-16 surrogate (U+{ord(text[exc.start]):04X}), "
                "which is not Unicode text; send the character itself or a complete surrogate "
                "pair",
            ) from None
    if truncated:
        head = (max_chars - len(CUT)) // 2
        tail = max_chars - len(CUT) - head
        text = text[:head] + CUT + (text[len(text) - tail :] if tail else "")
    if not has_visible_text(text):
        raise TextRefused(
            "empty_text",
            "nothing to read: the text is empty, or only whitespace, HTML line breaks and "
            "invisible characters",
        )
    return Admitted(text, truncated)
