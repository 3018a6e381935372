"""The optimiser and its schedule, one recipe for fine-tuning and pretraining alike.

AdamW with decoupled weight decay on matrices only (never on biases or the embedding, whose
GloVe or pretrained vectors are the point), a linear warm-up over a share of all steps, then
cosine decay to zero at the last step. Fine-tuning can give the encoder (embedding and LSTMs) a
smaller rate than the head (`TrainConfig.encoder_lr_factor`) and, in fp16, scales the loss.

An `Optimiser` is what a step updates and a checkpoint saves: `backward()` each loss, then
`step()` once: unscale, clip the global gradient norm, step, update the scaler, advance the
schedule, in that order. The parameter groups keep the order they have always had, so
checkpoints of earlier runs still resume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from training.config import PretrainConfig, TrainConfig

PRETRAINING_WARMUP = 0.05  # share of pretraining's steps spent warming up from 0


@dataclass
class Optimiser:
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler | None = None  # fine-tuning's; enabled in fp16 only

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def backward(self, loss: Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self, parameters: Iterable[nn.Parameter], grad_clip: float) -> None:
        """One update from the gradients that backward() left, clipped to norm `grad_clip`."""
        if self.scaler is None:
            nn.utils.clip_grad_norm_(parameters, grad_clip)
            self.optimizer.step()
        else:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(parameters, grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.scheduler.step()

    def lr_share(self) -> float:
        """The schedule's current share of the peak learning rate."""
        return self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)


def decays(name: str, param: nn.Parameter) -> bool:
    """Whether weight decay applies: to matrices, not biases, and never to the embedding."""
    return param.ndim > 1 and "embedding" not in name.split(".")


def fine_tuning_optimiser(
    model: nn.Module, cfg: TrainConfig, total_steps: int, device: torch.device, precision: str
) -> Optimiser:
    """AdamW in up to four groups: with or without decay, encoder or head; the encoder's rate
    is `encoder_lr_factor` of the head's."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        encoder = name.startswith(("embedding", "encoder"))
        groups.setdefault((decays(name, param), encoder), []).append(param)
    optimizer = torch.optim.AdamW(
        [
            {
                "params": params,
                "weight_decay": cfg.weight_decay if decay else 0.0,
                "lr": cfg.lr * (cfg.encoder_lr_factor if encoder else 1.0),
            }
            for (decay, encoder), params in sorted(groups.items())
        ],
        lr=cfg.lr,
    )
    scheduler = warmup_cosine(optimizer, total_steps, cfg.warmup_fraction)
    return Optimiser(
        optimizer, scheduler, torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    )


def pretraining_optimiser(modules: nn.Module, cfg: PretrainConfig, total_steps: int) -> Optimiser:
    """AdamW in two groups, with decay then without, all at one rate; no loss scaling."""
    named = list(modules.named_parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if decays(n, p)], "weight_decay": cfg.weight_decay},
            {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    return Optimiser(optimizer, warmup_cosine(optimizer, total_steps, PRETRAINING_WARMUP))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `warmup_fraction` of the steps, then cosine decay to zero."""
    warmup = max(1, int(total_steps * warmup_fraction))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
