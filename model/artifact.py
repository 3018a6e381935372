"""The artifact: a directory that describes itself.

    model.pt        the TorchScript program: forward(ids, lengths) -> logits
    vocab.json      the vocabulary
    metadata.json   format version, model version, configs, metrics, data checksums,
                    library versions, creation time, and the SHA-256 of the two files above

Loading checks that every file is there and consistent with the metadata, and names the file
at fault otherwise. A newer format than this code knows is refused; older ones load, and keys
this version does not know are ignored, so an artifact saved by this version loads in the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from model.config import ModelConfig, TextConfig
from model.vocab import Vocab, VocabError

FORMAT_VERSION = 1
PROGRAM = "model.pt"
VOCAB = "vocab.json"
METADATA = "metadata.json"
FILES = (PROGRAM, VOCAB, METADATA)
_REQUIRED_KEYS = ("format_version", "model_version", "model_config", "text_config", "files")


class ArtifactError(Exception):
    """An artifact directory that cannot be written or loaded; the message names the file."""


@dataclass(frozen=True)
class Artifact:
    path: Path
    program: torch.jit.ScriptModule
    vocab: Vocab
    metadata: dict[str, Any]
    model_config: ModelConfig
    text_config: TextConfig

    @property
    def version(self) -> str:
        return str(self.metadata["model_version"])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_artifact(
    out: Path,
    program: torch.jit.ScriptModule,
    vocab: Vocab,
    metadata: dict[str, Any],
    verify: Callable[[Path], None] | None = None,
) -> Path:
    """Write the artifact to a temporary sibling directory, then rename it to `out`.

    `verify`, if given, is called with the temporary directory once it is complete and may
    raise to abandon it. A failure part-way leaves nothing at `out`, which must not exist yet.
    `metadata` gets `format_version` and `files` filled in here.
    """
    out = Path(out)
    if out.exists():
        raise ArtifactError(f"{out} already exists; choose another output path or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; containers read artifacts as other users
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in 2.9+
            torch.jit.save(program, str(tmp / PROGRAM))
        vocab.save(tmp / VOCAB)
        meta = {
            **metadata,
            "format_version": FORMAT_VERSION,
            "files": {name: sha256_file(tmp / name) for name in (PROGRAM, VOCAB)},
        }
        (tmp / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if verify is not None:
            verify(tmp)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_metadata(path: Path) -> dict[str, Any]:
    """The metadata of the artifact at `path`, checked for the keys every version writes."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path}: no such artifact directory")
    missing = [name for name in FILES if not (path / name).is_file()]
    if missing:
        raise ArtifactError(f"{path}: missing {', '.join(missing)}; is this an artifact directory?")
    try:
        meta = json.loads((path / METADATA).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path / METADATA}: not readable JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path / METADATA}: expected a JSON object")
    absent = [k for k in _REQUIRED_KEYS if k not in meta]
    if absent:
        raise ArtifactError(f"{path / METADATA}: missing keys {', '.join(absent)}")
    if not isinstance(meta["format_version"], int) or meta["format_version"] > FORMAT_VERSION:
        raise ArtifactError(
            f"{path / METADATA}: format_version {meta['format_version']!r} is newer than this "
            f"code reads ({FORMAT_VERSION}); upgrade the sentiment-service package"
        )
    return meta


def load_artifact(path: Path | str, map_location: str | torch.device = "cpu") -> Artifact:
    path = Path(path)
    meta = read_metadata(path)
    for name in (PROGRAM, VOCAB):
        expected = meta["files"].get(name)
        if expected != sha256_file(path / name):
            raise ArtifactError(
                f"{path / name}: SHA-256 does not match {METADATA}; the file was changed or "
                "belongs to another artifact"
            )
    try:
        model_config = ModelConfig.from_dict(meta["model_config"])
        text_config = TextConfig.from_dict(meta["text_config"])
    except (TypeError, ValueError) as exc:
        raise ArtifactError(f"{path / METADATA}: invalid configuration: {exc}") from exc
    try:
        vocab = Vocab.load(path / VOCAB)
    except VocabError as exc:
        raise ArtifactError(f"{path / VOCAB}: {exc}") from exc
    if len(vocab) != model_config.vocab_size:
        raise ArtifactError(
            f"{path / VOCAB}: {len(vocab)} tokens, but {METADATA} says vocab_size "
            f"{model_config.vocab_size}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            program = torch.jit.load(str(path / PROGRAM), map_location=map_location)
    except Exception as exc:  # torch raises RuntimeError and others for a bad program file
        raise ArtifactError(f"{path / PROGRAM}: not a loadable TorchScript program: {exc}") from exc
    program.eval()
    return Artifact(path, program, vocab, meta, model_config, text_config)
