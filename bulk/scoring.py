"""The columns bulk scoring adds to each row, the one implementation behind `sentiment-score`'s
engines and the Ray Data callable (bulk.ray_data), so that a file scored either way, or a text
sent to /predict, gets the same number.

A row's text goes through `model.limits.admit`, the checks every way in applies, with the
service's defaults (`Limits.service_defaults()`: SENTIMENT_MAX_TEXT_CHARS' 20,000 characters and
SENTIMENT_LONG_TEXTS' "refuse"). A row the service would refuse gets the same code here, in the
`error` column, and a null score; two more codes cover what a file has and a JSON request
cannot: `missing_text` (a null or absent value) and `not_a_string` (a number, a list, ...).

Scoring happens in two steps, so that the local engine can run them on different threads as the
service does (tokenizing beside inference): `prepare` admits and tokenizes (Python, under the
pipeline's lock), `score` runs the network (torch, which releases the GIL) and builds the
columns. Ray runs both on one actor; the local engine splits `score` further, into the
`batches` its inference threads share and the `columns` built from their scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model.limits import LONG_TEXTS, Admitted, TextRefused, admit

if TYPE_CHECKING:
    from model.api import SentimentModel

# The columns added to every row, in this order (the same names as /predict's response, with
# the error's code and message beside them).
ADDED = ("score", "label", "known_share", "truncated", "model_version", "error", "error_message")
# Codes of the refusals that only a file can cause; model.limits has the others.
MISSING_TEXT, NOT_A_STRING = "missing_text", "not_a_string"


@dataclass(frozen=True)
class Limits:
    """Which texts are scored: the service's two settings, under the same names."""

    max_text_chars: int
    long_texts: str = "refuse"

    def __post_init__(self) -> None:
        if self.max_text_chars < 1:
            raise ValueError(f"max_text_chars must be at least 1, got {self.max_text_chars}")
        if self.long_texts not in LONG_TEXTS:
            raise ValueError(f"long_texts must be one of {LONG_TEXTS}, got {self.long_texts!r}")

    @classmethod
    def service_defaults(cls) -> Limits:
        """The defaults of the service's settings (not the environment: a bulk run says what
        it uses with flags)."""
        from service.settings import Settings

        fields = Settings.model_fields
        return cls(fields["max_text_chars"].default, fields["long_texts"].default)


def admit_value(value: object, limits: Limits) -> Admitted:
    """A row's text value, admitted as the service admits a text, or TextRefused."""
    if value is None or (isinstance(value, float) and math.isnan(value)):  # NaN: pandas' null
        raise TextRefused(MISSING_TEXT, "no text: the value is missing (null or absent)")
    if not isinstance(value, str):
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise TextRefused(NOT_A_STRING, f"a {type(value).__name__} ({shown}), not a string")
    return admit(value, limits.max_text_chars, limits.long_texts)


@dataclass
class Prepared:
    """A batch of rows, admitted and tokenized, waiting for the network."""

    size: int  # rows in the batch
    rows: list[int] = field(default_factory=list)  # positions of the admitted rows
    ids: list[list[int]] = field(default_factory=list)  # their token ids, in that order
    truncated: list[bool] = field(default_factory=list)
    refused: dict[int, TextRefused] = field(default_factory=dict)  # position -> why not


def prepare(model: SentimentModel, values: Sequence[Any], limits: Limits) -> Prepared:
    """Admit each value and tokenize the admitted texts (one call: the pipeline's lock once)."""
    prepared = Prepared(len(values))
    texts = []
    for i, value in enumerate(values):
        try:
            admitted = admit_value(value, limits)
        except TextRefused as refusal:
            prepared.refused[i] = refusal
            continue
        prepared.rows.append(i)
        prepared.truncated.append(admitted.truncated)
        texts.append(admitted.text)
    prepared.ids = model.encode(texts) if texts else []
    return prepared


def score(model: SentimentModel, prepared: Prepared, batch_size: int = 64) -> dict[str, list]:
    """The ADDED columns for a prepared batch, one value per row in row order: a refused row
    has its error and nulls where the prediction would be."""
    return columns(model, prepared, model.score_encoded(prepared.ids, batch_size))


def batches(prepared: Prepared, batch_size: int = 64) -> list[list[int]]:
    """The batches `score` runs, as positions in `prepared.ids`: texts of similar length
    together (model.batching), so that threads that share a prepared chunk score what `score`
    would, number for number."""
    from model.batching import every, in_length_order

    lengths = [len(ids) for ids in prepared.ids]
    return [group.tolist() for group in in_length_order(lengths, every(batch_size))]


def columns(model: SentimentModel, prepared: Prepared, scores: Sequence[float]) -> dict[str, list]:
    """The ADDED columns, given the network's score of each text of `prepared.ids`."""
    from model.api import Prediction
    from model.drift import known_share

    n = prepared.size
    added: dict[str, list] = {name: [None] * n for name in ADDED}
    added["model_version"] = [model.version] * n
    unk = model.artifact.vocab.unk_index
    for i, ids, p, cut in zip(prepared.rows, prepared.ids, scores, prepared.truncated, strict=True):
        prediction = Prediction(p, known_share(ids, unk))
        added["score"][i] = prediction.score
        added["label"][i] = prediction.label
        added["known_share"][i] = prediction.known_share
        added["truncated"][i] = cut
    for i, refusal in prepared.refused.items():
        added["error"][i] = refusal.code
        added["error_message"][i] = refusal.reason
    return added
