"""model.limits: the one set of checks on which texts are scored, for the service and bulk
scoring alike."""

from __future__ import annotations

import pytest

from model.limits import CUT, TextRefused, admit


def test_a_text_within_the_limit_is_scored_as_sent() -> None:
    admitted = admit("a fine film", 20)
    assert admitted.text == "a fine film" and not admitted.truncated


def test_a_long_text_is_refused_or_cut_to_its_head_and_tail() -> None:
    text = "head " + "x" * 100 + " tail"
    with pytest.raises(TextRefused, match="110 characters; the limit is 21") as refused:
        admit(text, 21)
    assert refused.value.code == "text_too_long"
    admitted = admit(text, 21, "truncate")
    assert admitted.truncated and len(admitted.text) == 21
    assert admitted.text == text[:10] + CUT + text[-10:]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("bad \ud800 surrogate", "invalid_text"),
        ("", "empty_text"),
        (" \u200b<br /> ", "empty_text"),
    ],
)
def test_texts_that_cannot_be_read_are_refused(text: str, code: str) -> None:
    with pytest.raises(TextRefused) as refused:
        admit(text, 100, "truncate")
    assert refused.value.code == code


def test_a_surrogate_is_found_where_it_stands_in_the_text_as_sent() -> None:
    text = "a" * 50 + "\udc00" + "b" * 50
    with pytest.raises(TextRefused, match="character 50 "):
        admit(text, 20, "truncate")
