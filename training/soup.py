"""A uniform model soup (Wortsman et al. 2022): the average of the best weights of several
fine-tunings of one pretrained encoder. Runs that differ in one setting can err in opposite
directions (on short texts: spans at full strength make a model unsure, spans an earlier model
chose make it too sure); their average keeps what both learned and sits between them. Only
fine-tunings of the same encoder average well: their weights stay in one basin."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from training.errors import UserError


def check_folders(folders: list[Path]) -> None:
    """Before any training: every folder holds a fine-tuning run's checkpoints."""
    for folder in folders:
        if not (folder / "best.pt").exists() or not (folder / "last.pt").exists():
            raise UserError(f"--soup: {folder} has no best.pt and last.pt of a fine-tuning run")


def ingredient(folder: Path) -> tuple[dict[str, torch.Tensor], str]:
    """A finished run's best weights and its fingerprint, from its checkpoint folder."""
    check_folders([folder])
    best, last = folder / "best.pt", folder / "last.pt"
    run_id = torch.load(last, map_location="cpu", weights_only=False)["run_id"]
    return torch.load(best, map_location="cpu", weights_only=True), str(run_id)


def average_into(model: nn.Module, folders: list[Path]) -> list[dict[str, str]]:
    """Replace `model`'s weights by the average of its own and those of the runs in `folders`;
    returns what went in, for the metadata."""
    own = model.state_dict()
    total = {name: value.double() for name, value in own.items() if value.is_floating_point()}
    added = []
    for folder in folders:
        state, run_id = ingredient(folder)
        if state.keys() != own.keys() or any(state[k].shape != own[k].shape for k in own):
            raise UserError(f"--soup: {folder} holds another network than this run's")
        for name in total:
            total[name] += state[name].double()
        added.append({"folder": str(folder), "run_id": run_id})
    count = 1 + len(folders)
    model.load_state_dict(
        {name: (total[name] / count).to(v.dtype) if name in total else v for name, v in own.items()}
    )
    return added
