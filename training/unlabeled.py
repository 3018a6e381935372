"""Unlabeled reviews for pretraining, and the filter that keeps every held-out text out of them.

A source (`--unlabeled`) is one of:
  * an aclImdb folder or tar archive: its `train/unsup/*.txt` (the 50,000 unlabeled reviews of
    `aclImdb_unsup.tar.xz` or the official `aclImdb_v1.tar.gz`)
  * a CSV or JSONL file with a `text` column (any `label` column is ignored)
The texts come back deduplicated, in a fixed order.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from training.data import is_tar, table_rows
from training.errors import UserError

_UNSUP_MEMBER = re.compile(r"(?:^|/)train/unsup/(\d+)_\d+\.txt$")
EXPECTED = "an aclImdb folder or tar archive with train/unsup/*.txt, or a .csv/.jsonl with 'text'"


def load_unlabeled(sources: Sequence[Path]) -> list[str]:
    """Every distinct unlabeled text across `sources`, in source then file order."""
    seen: set[str] = set()
    texts: list[str] = []
    for source in map(Path, sources):
        found = 0
        try:
            for text in _read(source):
                found += 1
                if text.strip() and text not in seen:
                    seen.add(text)
                    texts.append(text)
        except (OSError, tarfile.TarError, EOFError, UnicodeDecodeError) as exc:
            raise UserError(f"{source}: cannot read: {exc}") from exc
        if not found:
            raise UserError(f"{source}: no unlabeled texts found; expected {EXPECTED}")
    return texts


@dataclass(frozen=True)
class Filtered:
    texts: list[str]
    dropped: dict[str, int]  # how many texts equal one of each held-out set


def drop_copies(texts: Iterable[str], held_out: dict[str, Iterable[str]]) -> Filtered:
    """The texts that are not character for character a text of any held-out set (test,
    validation): so that no held-out review is seen in any form before it is scored."""
    forbidden = {name: set(group) for name, group in held_out.items()}
    kept: list[str] = []
    dropped = {name: 0 for name in forbidden}
    for text in texts:
        hits = [name for name, group in forbidden.items() if text in group]
        for name in hits:
            dropped[name] += 1
        if not hits:
            kept.append(text)
    return Filtered(kept, dropped)


def _read(source: Path) -> Iterator[str]:
    if not source.exists():
        raise UserError(f"{source}: no such file or folder")
    suffix = source.suffix.lower()
    if source.is_file() and suffix in (".csv", ".jsonl"):
        for line, row in table_rows(source, ("text",)):
            text = row.get("text") if isinstance(row, dict) else None
            if suffix == ".csv":
                text = text or ""  # a short row's missing cell
            if not isinstance(text, str):
                raise UserError(f"{source.name}:{line}: each row needs a 'text' string")
            yield text
    elif is_tar(source):
        with tarfile.open(source, "r|*") as tar:  # streaming: one pass over the archive
            for member in tar:
                if member.isfile() and _UNSUP_MEMBER.search(member.name):
                    f = tar.extractfile(member)
                    assert f is not None  # isfile() members always have data
                    yield f.read().decode("utf-8")
    elif source.is_dir():
        for root in (source, source / "aclImdb"):
            folder = root / "train" / "unsup"
            if folder.is_dir():
                paths = sorted(folder.glob("*.txt"), key=lambda p: (len(p.name), p.name))
                for path in paths:
                    yield path.read_text(encoding="utf-8")
                return
    else:
        raise UserError(f"{source}: not a folder, tar archive, .csv or .jsonl file")
