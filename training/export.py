"""Export: TorchScript, two checks that fail loudly, and an atomic write of the artifact."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.api import SentimentModel
from model.artifact import load_artifact, save_artifact
from model.batching import pad_batch
from model.vocab import Vocab
from training.errors import UserError

TOLERANCE = 1e-5  # largest |dp| allowed between eager and scripted, and alone vs batched (fp32)
EAGER_CHECK_REVIEWS = 300


class ExportError(UserError):
    """The scripted network does not behave like the trained one; no artifact is written."""


def script(model: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in 2.9+
        return torch.jit.script(model)


def _probs(net: nn.Module, id_lists: Sequence[Sequence[int]]) -> torch.Tensor:
    ids, lengths = pad_batch(id_lists)
    with torch.inference_mode():
        return torch.sigmoid(net(ids, lengths).float())


def check_scripted_matches_eager(
    eager: nn.Module, program: nn.Module, id_lists: Sequence[Sequence[int]]
) -> float:
    """Largest |dp| between the two on these reviews (batches of 32); raises past TOLERANCE."""
    worst = 0.0
    for start in range(0, len(id_lists), 32):
        chunk = id_lists[start : start + 32]
        worst = max(worst, float((_probs(eager, chunk) - _probs(program, chunk)).abs().max()))
    if worst > TOLERANCE:
        raise ExportError(
            f"scripted and eager scores differ by {worst:.2e} (> {TOLERANCE:.0e}); not exporting"
        )
    return worst


def check_batch_invariance(program: nn.Module, id_lists: Sequence[Sequence[int]]) -> float:
    """Largest |dp| between each review alone and inside one padded batch of all of them."""
    batched = _probs(program, id_lists)
    alone = torch.cat([_probs(program, [ids]) for ids in id_lists])
    worst = float((batched - alone).abs().max())
    if worst > TOLERANCE:
        raise ExportError(
            f"a review's score changes by {worst:.2e} inside a padded batch (> {TOLERANCE:.0e})"
        )
    return worst


def spread_by_length(id_lists: Sequence[Sequence[int]], count: int = 16) -> list[Sequence[int]]:
    """`count` reviews from shortest to longest, so the batch mixes very different lengths."""
    ranked = sorted(id_lists, key=len)
    step = max(1, len(ranked) // count)
    return ranked[::step][:count] + ([ranked[-1]] if ranked else [])


def export(
    model: nn.Module,
    vocab: Vocab,
    metadata: dict[str, Any],
    check_ids: Sequence[Sequence[int]],
    check_texts: Sequence[str],
    out: Path,
) -> dict[str, float]:
    """Script `model` (on CPU, fp32), run both checks, and write the artifact to `out`.

    check_ids: encoded validation reviews; check_texts: a few raw texts whose scores through
    the saved artifact must match the scripted program's (the text pipeline round trip).
    """
    eager = copy.deepcopy(model).cpu().float().eval()
    program = script(eager)
    checks = {
        "scripted_vs_eager_max_abs_diff": check_scripted_matches_eager(
            eager, program, check_ids[:EAGER_CHECK_REVIEWS]
        ),
        "batch_invariance_max_abs_diff": check_batch_invariance(
            program, spread_by_length(check_ids)
        ),
    }
    metadata = {**metadata, "export_checks": checks}

    def verify(folder: Path) -> None:
        loaded = SentimentModel(load_artifact(folder))
        got = torch.tensor(loaded.predict(list(check_texts)))
        want = _probs(program, loaded.encode(list(check_texts)))
        if float((got - want).abs().max()) > TOLERANCE:
            raise ExportError(
                "the saved artifact scores texts differently from the trained network"
            )

    save_artifact(out, program, vocab, metadata, verify=verify)
    return checks
