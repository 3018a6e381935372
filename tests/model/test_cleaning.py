import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.cleaning import INVISIBLE_RANGES, clean, clean_aligned

# Text that exercises every step: line breaks, decomposed accents, Hangul jamo, invisibles.
PIECES = st.sampled_from(
    ["good", "film", " ", "\n", "<br />", "<BR>", "e\u0301", "\u1100\u1161", "\u200b", "\u202e"]
    + ["😀", "👍🏽", "\u00a0", "!", "\u2000", "a\u0323\u0302", "\u0b47\u0b3e", "\ufeff"]
)
TEXTS = st.lists(PIECES, max_size=30).map("".join) | st.text(
    st.characters(exclude_categories=["Cs"]), max_size=60
)


def test_invisible_table_matches_this_pythons_unicode() -> None:
    expected = [
        cp
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in ("Cc", "Cf") and not chr(cp).isspace()
    ]
    listed = [cp for a, b in INVISIBLE_RANGES for cp in range(a, b + 1)]
    assert listed == expected


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
