"""--download: fetch the official aclImdb_v1.tar.gz and check its SHA-256."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from model.artifact import sha256_file
from training.errors import UserError

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
IMDB_FILENAME = "aclImdb_v1.tar.gz"


def download_imdb(
    folder: Path, url: str = IMDB_URL, sha256: str = IMDB_SHA256, timeout: float = 30.0
) -> Path:
    """The official archive in `folder`; downloaded unless a copy with SHA-256 is there."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / IMDB_FILENAME
    if target.is_file() and sha256_file(target) == sha256:
        return target
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, partial.open("wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        partial.unlink(missing_ok=True)
        raise UserError(
            f"cannot download {url}: {getattr(exc, 'reason', exc)}. Without network access, "
            f"fetch that file on another machine, check that its SHA-256 is {sha256}, copy it "
            f"here and pass it as --data path/to/{IMDB_FILENAME}"
        ) from exc
    actual = sha256_file(partial)
    if actual != sha256:
        partial.unlink()
        raise UserError(f"{url} gave a file with SHA-256 {actual}, expected {sha256}; not using it")
    os.replace(partial, target)
    return target
