"""Where a run writes its output until it is complete: OUTPUT.parts/, one file per chunk, each
written under a temporary name and renamed when whole, so that a part on disk is always complete.
A crash (Ctrl-C, a killed process, a full disk) leaves whole parts and, at worst, a temporary
file that the next run deletes; never a truncated output.

    OUTPUT.parts/manifest.json      what the run reads and how: inputs (path, size, mtime),
                                    text column, part size, format, columns, model, limits
    OUTPUT.parts/part-000042.csv    chunk 42's rows (bulk.chunks), scored

When every chunk has its part, they are joined in order into OUTPUT.partial, which is flushed to
disk and renamed to OUTPUT; then the parts go. `--resume` continues a run whose manifest matches
this one's exactly (another input, model or setting would mix two runs' rows in one file, so it
is refused, naming what changed): the chunks with a part are skipped, the others scored, so that
no row is scored twice or lost.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bulk.errors import BulkError
from bulk.outputs import Layout, write_parquet

MANIFEST = "manifest.json"


class Parts:
    def __init__(self, output: Path, layout: Layout, manifest: dict[str, Any]) -> None:
        self.output = output
        self.layout = layout
        self.manifest = manifest
        self.folder = output.with_name(output.name + ".parts")
        self.ext = output.suffix

    def complete(self) -> bool:
        """The output exists and no run is under way: a resumed run has nothing to do."""
        return self.output.exists() and not self.folder.exists()

    def start(self, resume: bool, overwrite: bool) -> set[int]:
        """Make the parts folder ready; the chunks already done (resume) or an empty set."""
        if self.output.exists() and not (resume or overwrite):
            raise BulkError(f"{self.output} exists: pass --overwrite to replace it")
        if self.folder.exists():
            if resume:
                self._check_manifest()
                for stale in self.folder.glob(".*.tmp"):  # a part being written when it stopped
                    stale.unlink()
                return self.done()
            if not overwrite:
                raise BulkError(
                    f"{self.folder} holds the parts of an interrupted run: continue it with the "
                    "same command and --resume, or pass --overwrite to start again"
                )
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        _atomic(self.folder / MANIFEST, lambda f: f.write(_dump(self.manifest)))
        return set()

    def _check_manifest(self) -> None:
        try:
            before = json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise BulkError(
                f"{self.folder / MANIFEST} cannot be read ({exc}): delete {self.folder} and run "
                "again without --resume"
            ) from None
        for key, value in self.manifest.items():
            if before.get(key) != value:
                raise BulkError(
                    f"--resume: the interrupted run in {self.folder} had another {key} "
                    f"({before.get(key)!r}, now {value!r}); run it with what it had, or pass "
                    "--overwrite to start again"
                )

    def done(self) -> set[int]:
        return {int(p.name[5:11]) for p in self.folder.glob(f"part-??????{self.ext}")}

    def path(self, index: int) -> Path:
        return self.folder / f"part-{index:06d}{self.ext}"

    def write(self, index: int, chunk: Any, added: dict[str, list]) -> None:
        """Chunk `index`'s scored rows as a whole part file."""
        if self.layout.format == "parquet":
            import pyarrow.parquet as pq

            table = self.layout.table(chunk, added)
            _atomic(self.path(index), lambda f: pq.write_table(table, f))
        else:
            _atomic(self.path(index), lambda f: self.layout.write(f, chunk, added))

    def finish(self, chunks: int) -> None:
        """Join the parts of chunks 0..chunks-1 into the output, then remove them."""
        parts = [self.path(i) for i in range(chunks)]
        missing = [p.name for p in parts if not p.exists()]
        if missing:  # cannot happen unless someone deleted them: never write a file short
            raise BulkError(f"{self.folder}: {missing[0]} is missing; run again with --resume")
        if self.layout.format == "parquet":
            _atomic(self.output, lambda f: self._parquet(f, parts), partial=True)
        else:
            _atomic(self.output, lambda f: self._concatenate(f, parts), partial=True)
        shutil.rmtree(self.folder)

    def _concatenate(self, out: IO[bytes], parts: list[Path]) -> None:
        self.layout.write_header(out)
        for part in parts:
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)

    def _parquet(self, out: IO[bytes], parts: list[Path]) -> None:
        if parts:
            write_parquet(out, parts)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        from bulk.outputs import ADDED_TYPES

        fields = [pa.field(c, pa.string()) for c in self.layout.columns]
        fields += [pa.field(n, t(pa)) for n, t in ADDED_TYPES.items()]
        pq.write_table(pa.schema(fields).empty_table(), out)


def _atomic(path: Path, write: Callable[[IO[bytes]], object], partial: bool = False) -> None:
    """Write `path` through a temporary file in its folder, flushed to disk, then renamed."""
    tmp = path.with_name(path.name + ".partial" if partial else f".{path.name}.tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _dump(value: Any) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()
