"""The sentiment model: text pipeline, vocabulary, network, artifact, and SentimentModel.

    from model import SentimentModel
    SentimentModel.load().predict(["a wonderful film", "dull"])  # -> [P(positive), ...]

The names below are imported when first used, not with the package: `model.cleaning`,
`model.drift` and `model.config` need no torch, and the HTTP layer imports them without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Artifact": "model.artifact",
    "ArtifactError": "model.artifact",
    "load_artifact": "model.artifact",
    "save_artifact": "model.artifact",
    "ModelConfig": "model.config",
    "TextConfig": "model.config",
    "SentimentLSTM": "model.network",
    "SentimentModel": "model.api",
    "bundled_model_path": "model.api",
    "TextPipeline": "model.text",
    "Vocab": "model.vocab",
}
__all__ = [
    "Artifact",
    "ArtifactError",
    "ModelConfig",
    "SentimentLSTM",
    "SentimentModel",
    "TextConfig",
    "TextPipeline",
    "Vocab",
    "bundled_model_path",
    "load_artifact",
    "save_artifact",
]

if TYPE_CHECKING:
    from model.api import SentimentModel, bundled_model_path
    from model.artifact import Artifact, ArtifactError, load_artifact, save_artifact
    from model.config import ModelConfig, TextConfig
    from model.network import SentimentLSTM
    from model.text import TextPipeline
    from model.vocab import Vocab


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
