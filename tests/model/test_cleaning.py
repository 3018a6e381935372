import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import unicode_tables
from model.cleaning import MAX_COMBINING_RUN, clean, clean_aligned, has_visible_text

# Text that exercises every step: line breaks, decomposed accents, Hangul jamo, invisibles.
PIECES = st.sampled_from(
    ["good", "film", " ", "\n", "<br />", "<BR>", "e\u0301", "\u1100\u1161", "\u200b", "\u202e"]
    + ["😀", "👍🏽", "\u00a0", "!", "\u2000", "a\u0323\u0302", "\u0b47\u0b3e", "\ufeff"]
)
TEXTS = st.lists(PIECES, max_size=30).map("".join) | st.text(
    st.characters(exclude_categories=["Cs"]), max_size=60
)


def ranges(table: tuple[tuple[int, int], ...]) -> list[int]:
    return [cp for a, b in table for cp in range(a, b + 1)]


def test_unicode_tables_match_this_pythons_unicodedata() -> None:
    invisible, combining = [], []
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        if unicodedata.category(c) in ("Cc", "Cf") and not c.isspace():
            invisible.append(cp)
        if unicodedata.combining(c):
            combining.append(cp)
    assert ranges(unicode_tables.INVISIBLE) == invisible
    assert ranges(unicode_tables.COMBINING) == combining


def test_long_runs_of_combining_marks_are_cut_before_nfc() -> None:
    zalgo = "a" + "\u0316\u0301" * 100 + " b"  # not in canonical order: NFC must reorder
    cleaned = clean(zalgo)
    marks = unicodedata.normalize("NFD", cleaned)[1:-2]
    assert cleaned.endswith(" b") and len(marks) == MAX_COMBINING_RUN
    assert cleaned == unicodedata.normalize("NFC", cleaned)
    assert clean_aligned(zalgo)[0] == cleaned
    ordered = "e\u0301\u0316"  # short runs keep every mark
    assert clean(ordered) == unicodedata.normalize("NFC", ordered)


def test_line_breaks_with_spaces() -> None:
    assert clean("a<br  /  >b< p >c<BR>d") == "a b c d"
    assert clean("<br" + " " * 50 + "x") == "<br" + " " * 50 + "x"


@given(TEXTS)
def test_aligned_cleaning_gives_the_same_string(text: str) -> None:
    assert clean_aligned(text)[0] == clean(text)


@given(TEXTS)
def test_every_cleaned_character_maps_into_the_original(text: str) -> None:
    cleaned, alignment = clean_aligned(text)
    for i, char in enumerate(cleaned):
        a, b = alignment.span(i, i + 1)
        assert 0 <= a < b <= len(text)
        source = text[a:b]
        if source.strip() and not source.startswith("<"):  # not a line break's space
            assert char in unicodedata.normalize("NFC", source)


def test_copied_text_maps_character_for_character() -> None:
    text = "A <br />great\u200b film"
    cleaned, alignment = clean_aligned(text)
    assert cleaned == "A  great film"
    assert text[slice(*alignment.span(3, 8))] == "great"
    assert text[slice(*alignment.span(9, 13))] == "film"
    assert alignment.span(1, 2) == (1, 2) and alignment.span(2, 3) == (2, 8)  # the <br />


def test_composed_characters_map_to_what_they_were_composed_from() -> None:
    text = "cafe\u0301 ok"
    cleaned, alignment = clean_aligned(text)
    assert cleaned == "café ok"
    assert alignment.span(0, 4) == (0, 5)
    assert alignment.span(3, 4) == (3, 5)
    assert text[slice(*alignment.span(5, 7))] == "ok"


def test_compositions_across_base_characters_map_to_their_word() -> None:
    text = "x \u1100\u1161\u11a8 y"  # jamo that NFC composes into one syllable
    cleaned, alignment = clean_aligned(text)
    assert cleaned == "x \uac01 y"
    assert alignment.span(2, 3) == (2, 5)


@pytest.mark.parametrize("text", ["", "<br />", "\u200b\u200b"])
def test_texts_that_clean_to_nothing(text: str) -> None:
    assert clean_aligned(text)[0] == clean(text)
    assert not clean(text).strip()


@given(TEXTS)
def test_visible_text_is_what_cleaning_leaves(text: str) -> None:
    assert has_visible_text(text) == bool(clean(text).strip())
