"""Artifacts that load but whose program misbehaves, made from a tiny real one: for the checks
that must refuse them (start-up, and a model swap)."""

from __future__ import annotations

from pathlib import Path

import torch

from model import load_artifact, save_artifact


class NanScores(torch.nn.Module):
    """The wrapped program's logits times NaN: every score NaN."""

    def __init__(self, program: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.program = program

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.program(ids, lengths) * float("nan")


class FailsOnBatches(torch.nn.Module):
    """Raises on any batch of more than one text, as a program broken for some shapes would."""

    def __init__(self, program: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.program = program

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if ids.size(0) > 1:
            raise RuntimeError("this program fails on batches")
        return self.program(ids, lengths)


KINDS = {"nan": NanScores, "fails_on_batches": FailsOnBatches}


def broken_artifact(source: Path, out: Path, kind: str) -> Path:
    """A copy of the artifact at `source` whose program is wrapped by KINDS[kind]: checksums
    and metadata consistent, so that only running it shows the fault."""
    artifact = load_artifact(source)
    program = torch.jit.script(KINDS[kind](artifact.program))
    metadata = {k: v for k, v in artifact.metadata.items() if k not in ("files", "format_version")}
    metadata["model_version"] = f"{kind}-{artifact.version}"
    return save_artifact(out, program, artifact.vocab, metadata)
