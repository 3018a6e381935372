"""The sentiment model: text pipeline, vocabulary, network, artifact, and SentimentModel.

from model import SentimentModel
SentimentModel.load().predict(["a wonderful film", "dull"])  # -> [P(positive), ...]
"""

from model.api import SentimentModel, bundled_model_path
from model.artifact import Artifact, ArtifactError, load_artifact, save_artifact
from model.config import ModelConfig, TextConfig
from model.network import SentimentLSTM
from model.text import TextPipeline
from model.vocab import Vocab

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
