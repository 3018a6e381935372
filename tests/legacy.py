"""An artifact as exported before `classify` and the drift reference existed, made from a tiny
one: its program has forward(ids, lengths) and nothing else, its metadata no "reference". The
bundled model is such an artifact today; this one keeps the tests of the old path independent
of which model is bundled."""

from __future__ import annotations

from pathlib import Path

import torch

from model import load_artifact, save_artifact


class ForwardOnly(torch.nn.Module):
    def __init__(self, program: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.program = program

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.program(ids, lengths)


def forward_only_artifact(source: Path, out: Path) -> Path:
    artifact = load_artifact(source)
    program = torch.jit.script(ForwardOnly(artifact.program))
    metadata = {
        k: v
        for k, v in artifact.metadata.items()
        if k not in ("reference", "files", "format_version")
    }
    metadata["model_version"] = "old-" + artifact.version
    return save_artifact(out, program, artifact.vocab, metadata)
