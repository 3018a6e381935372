"""Checkpoints that resume a run exactly: weights, optimizer, schedule, scaler and random state,
tagged with the run's fingerprint so that a checkpoint only ever resumes its own run; and the
names of the files each stage leaves in a run's checkpoint folder (`<out>.checkpoints`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from training.errors import UserError

if TYPE_CHECKING:
    from training.optim import Optimiser

# What a run leaves in its checkpoint folder, stage by stage (training/run.py tells the story).
PRETRAIN_LAST = "pretrain-last.pt"  # pretraining's state: every few minutes and every epoch
ENCODER = "encoder.pt"  # the pretrained embedding and stacks, when pretraining is done
VOCAB = "vocab.json"  # the vocabulary of the encoder, beside it, to fine-tune it later
VALIDATION = "validation.json"  # which reviews validate the run: a soup checks its parts'
LAST = "last.pt"  # fine-tuning's state after its latest epoch: resumes it, names its run
BEST = "best.pt"  # the weights of the best validation epoch: the model, or a soup's part


def save_checkpoint(
    path: Path, run_id: str, state: dict[str, Any], model: nn.Module, optim: Optimiser
) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "run_id": run_id,
            "state": state,
            "model": model.state_dict(),
            "optimizer": optim.optimizer.state_dict(),
            "scheduler": optim.scheduler.state_dict(),
            "scaler": optim.scaler.state_dict() if optim.scaler is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
        tmp,
    )
    tmp.replace(path)  # a crash while saving keeps the previous checkpoint whole


def load_checkpoint(path: Path, run_id: str, model: nn.Module, optim: Optimiser) -> dict[str, Any]:
    """Restore everything save_checkpoint() wrote; returns the run's state."""
    if not path.exists():
        raise UserError(f"--resume: no checkpoint at {path}")
    saved = torch.load(path, map_location="cpu", weights_only=False)
    if saved.get("run_id") != run_id:
        raise UserError(
            f"{path} belongs to a run with other data or settings; remove it or match them"
        )
    model.load_state_dict(saved["model"])
    optim.optimizer.load_state_dict(saved["optimizer"])
    optim.scheduler.load_state_dict(saved["scheduler"])
    if optim.scaler is not None and saved.get("scaler") is not None:
        optim.scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["torch_rng"])
    if saved.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
    return saved["state"]
