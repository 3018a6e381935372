"""A model soup (Wortsman et al. 2022): the average, equal or weighted, of the best weights of
several fine-tunings of one pretrained encoder. Runs that differ in one setting can err in opposite
directions (on short texts: spans at full strength make a model unsure, spans an earlier model
chose make it too sure); their average keeps what both learned and sits between them. Only
fine-tunings of the same encoder average well: their weights stay in one basin."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.checkpoint import BEST, LAST, VALIDATION
from training.errors import UserError

log = logging.getLogger(__name__)


def check_folders(folders: list[Path]) -> None:
    """Before any training: every folder holds a fine-tuning run's checkpoints."""
    for folder in folders:
        if not (folder / BEST).exists() or not (folder / LAST).exists():
            raise UserError(f"--soup: {folder} has no {BEST} and {LAST} of a fine-tuning run")


def record_validation(folder: Path, digest: str) -> None:
    """Note in a run's checkpoint folder the validation reviews it is chosen and calibrated on."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VALIDATION).write_text(json.dumps({"sha256": digest}) + "\n")


def check_validation(folders: list[Path], digest: str) -> None:
    """An ingredient that trained on this run's validation reviews would make the soup's
    validation scores and temperature flatter it: refuse one validated on other reviews."""
    for folder in folders:
        path = folder / VALIDATION
        if not path.exists():  # runs from before the record
            log.warning("--soup: %s does not say which reviews validated it", folder)
            continue
        try:
            recorded = json.loads(path.read_text()).get("sha256")
        except (OSError, ValueError, AttributeError) as exc:
            raise UserError(f"--soup: {path} is unreadable ({exc})") from exc
        if recorded != digest:
            raise UserError(
                f"--soup: {folder} was validated on other reviews than this run "
                "(another --seed or --split-seed), so it trained on some of this run's"
            )


def ingredient(folder: Path) -> tuple[dict[str, torch.Tensor], str]:
    """A finished run's best weights and its fingerprint, from its checkpoint folder."""
    check_folders([folder])
    best, last = folder / BEST, folder / LAST
    run_id = torch.load(last, map_location="cpu", weights_only=False)["run_id"]
    return torch.load(best, map_location="cpu", weights_only=True), str(run_id)


def check_weights(weights: list[float] | None, folders: list[Path]) -> list[float]:
    """One positive weight per model, this run's first; returned to sum to 1 (default equal)."""
    if weights and not folders:
        raise UserError("--soup-weights: no --soup folders to weigh")
    if not weights:
        return [1 / (1 + len(folders))] * (1 + len(folders))
    if len(weights) != 1 + len(folders):
        raise UserError(
            f"--soup-weights: {len(weights)} given for {1 + len(folders)} models "
            "(this run's first, then one per --soup folder)"
        )
    if not all(math.isfinite(w) and w > 0 for w in weights):
        raise UserError("--soup-weights: every weight must be a positive number")
    return [w / sum(weights) for w in weights]


def average_into(
    model: nn.Module, folders: list[Path], weights: list[float] | None = None
) -> list[dict[str, Any]]:
    """Replace `model`'s weights by the average of its own and those of the runs in `folders`,
    weighted by `weights` (this run's first; default equal); returns what went in, for the
    metadata."""
    shares = check_weights(weights, folders)
    own = model.state_dict()
    total = {name: shares[0] * v.double() for name, v in own.items() if v.is_floating_point()}
    added: list[dict[str, Any]] = []
    for folder, share in zip(folders, shares[1:], strict=True):
        state, run_id = ingredient(folder)
        if state.keys() != own.keys() or any(state[k].shape != own[k].shape for k in own):
            raise UserError(f"--soup: {folder} holds another network than this run's")
        for name in total:
            total[name] += share * state[name].double()
        added.append({"folder": str(folder), "run_id": run_id, "weight": share})
    model.load_state_dict(
        {name: total[name].to(v.dtype) if name in total else v for name, v in own.items()}
    )
    return added
