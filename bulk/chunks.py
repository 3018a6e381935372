"""The input cut into chunks of `part_rows` rows, numbered from 0, across file boundaries: the unit
that is tokenized, scored and written as one part (bulk.parts), and that a resumed run skips.

Chunk k holds the input's rows k * part_rows to (k + 1) * part_rows - 1, whatever the files, so
that the same input and part size always give the same chunks: a run resumed with them knows
which rows a part on disk holds. Only the last chunk may be shorter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bulk.inputs import InputFile, read


@dataclass
class Chunk:
    index: int
    rows: list[dict[str, Any]]
    arrow: Any  # a pyarrow Table of the same rows when all came from Parquet, else None
    where: str  # "FILE rows A-B" (and more files), for messages
    bytes_read: int  # of the whole input, once this chunk was read


@dataclass
class _Piece:
    file: InputFile
    first_row: int
    rows: list[dict[str, Any]]
    arrow: Any


def chunks(files: list[InputFile], text_column: str, part_rows: int) -> Iterator[Chunk]:
    """The input's chunks, in order, reading ahead of the caller by at most one chunk."""
    if part_rows < 1:
        raise ValueError(f"part_rows must be at least 1, got {part_rows}")
    index, held, pieces, done_bytes = 0, 0, [], 0
    for file in files:
        for batch in read(file, text_column, part_rows):
            start = 0
            while start < len(batch.rows):
                take = min(part_rows - held, len(batch.rows) - start)
                arrow = None if batch.arrow is None else batch.arrow.slice(start, take)
                rows = batch.rows[start : start + take]
                pieces.append(_Piece(file, batch.first_row + start, rows, arrow))
                held, start = held + take, start + take
                if held == part_rows:
                    yield _chunk(index, pieces, done_bytes + batch.bytes_read)
                    index, held, pieces = index + 1, 0, []
        done_bytes += file.size
    if pieces:
        yield _chunk(index, pieces, done_bytes)


def _chunk(index: int, pieces: list[_Piece], bytes_read: int) -> Chunk:
    rows = [row for piece in pieces for row in piece.rows]
    where = ", ".join(
        f"{p.file.path} rows {p.first_row:,}-{p.first_row + len(p.rows) - 1:,}" for p in pieces
    )
    return Chunk(index, rows, _arrow(pieces), where, bytes_read)


def _arrow(pieces: list[_Piece]) -> Any:
    """The pieces' tables as one, or None where a piece has none or their columns differ."""
    if any(p.arrow is None for p in pieces):
        return None
    if len(pieces) == 1:
        return pieces[0].arrow
    import pyarrow as pa

    try:
        return pa.concat_tables([p.arrow for p in pieces], promote_options="permissive")
    except pa.ArrowException:
        return None
