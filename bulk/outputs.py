"""The output side: each scored chunk's rows as CSV, TSV, JSON Lines or Parquet, written as a part
file (bulk.parts joins them) or to a stream (stdout).

An output row is the input row without its text column (unless keep_text), then the columns of
bulk.scoring.ADDED. JSON Lines writes each row's own keys and values as they were read. CSV and
TSV have one header: their columns are fixed when the run starts, from the first file (its
header, its Parquet schema, or its first JSON object's keys), and a later row with another key
stops the run, saying to write JSON Lines or Parquet; a value that is not a string is written as
JSON (null as an empty field). Parquet keeps a Parquet input's column types; other rows are
typed by pyarrow, and the parts' types are unified when they are joined.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from bulk.chunks import Chunk
from bulk.errors import BulkError, needs
from bulk.scoring import ADDED

OUTPUT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}
TEXT_FORMATS = ("csv", "tsv", "jsonl")


def output_format(path: Path) -> str:
    """The format the output's name says; for Parquet, pyarrow must be there (checked now, not
    after the first chunk is scored)."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BulkError(f"{path}: name the output .csv, .tsv, .jsonl or .parquet (its format)")
    if fmt == "parquet":
        _pyarrow()
    return fmt


@dataclass(frozen=True)
class Layout:
    """How the rows of every chunk are written."""

    format: str  # csv | tsv | jsonl | parquet
    text_column: str
    keep_text: bool
    columns: tuple[str, ...] = ()  # the kept input columns, for CSV and TSV

    def header(self) -> list[str]:
        return [*self.columns, *ADDED]

    def records(self, chunk: Chunk, added: dict[str, list]) -> list[dict[str, Any]]:
        """The output rows of a scored chunk."""
        drop = () if self.keep_text else (self.text_column,)
        out = []
        for i, row in enumerate(chunk.rows):
            _no_clash(chunk, row)
            record = {k: v for k, v in row.items() if k not in drop}
            record.update((name, added[name][i]) for name in ADDED)
            out.append(record)
        return out

    def write(self, stream: IO[bytes], chunk: Chunk, added: dict[str, list]) -> None:
        """The chunk's rows in a text format, no header, to a binary stream."""
        records = self.records(chunk, added)
        if self.format == "jsonl":
            stream.write(b"".join(_json_line(r) for r in records))
            return
        text = io.StringIO()
        writer = csv.writer(text, dialect="excel-tab" if self.format == "tsv" else "excel")
        known = set(self.header())
        for record in records:
            extra = next((k for k in record if k not in known), None)
            if extra is not None:
                raise BulkError(
                    f"{chunk.where}: a row has the key {extra!r}, which the first row has not; "
                    f"a {self.format.upper()} has one header: write .jsonl or .parquet, which "
                    "keep every row's own keys"
                )
            writer.writerow([_cell(record.get(c)) for c in self.header()])
        # A lone surrogate (a refused invalid_text row's text, kept) as \ud800: still UTF-8.
        stream.write(text.getvalue().encode("utf-8", "backslashreplace"))

    def write_header(self, stream: IO[bytes]) -> None:
        if self.format in ("csv", "tsv"):
            text = io.StringIO()
            csv.writer(text, dialect="excel-tab" if self.format == "tsv" else "excel").writerow(
                self.header()
            )
            stream.write(text.getvalue().encode("utf-8"))

    def table(self, chunk: Chunk, added: dict[str, list]) -> Any:
        """The chunk's rows as a pyarrow Table (Parquet): the input's types where it had them."""
        pa = _pyarrow()
        if chunk.arrow is None:
            try:
                return pa.Table.from_pylist(self.records(chunk, added))
            except (pa.ArrowException, UnicodeEncodeError) as exc:
                raise BulkError(
                    f"{chunk.where}: these rows cannot make one Parquet table ({exc}); a column "
                    "holds values of different types, or a lone surrogate: write .jsonl"
                ) from None
        table = chunk.arrow
        _no_clash(chunk, table.column_names)
        if not self.keep_text:
            table = table.drop_columns([self.text_column])
        for name in ADDED:
            table = table.append_column(name, pa.array(added[name], type=ADDED_TYPES[name](pa)))
        return table


ADDED_SET = frozenset(ADDED)


def _no_clash(chunk: Chunk, columns: Any) -> None:
    clash = ADDED_SET.intersection(columns)
    if clash:
        raise BulkError(
            f"{chunk.where}: the input has a column {sorted(clash)[0]!r}, which scoring adds; "
            "rename or drop it first"
        )


ADDED_TYPES = {
    "score": lambda pa: pa.float64(),
    "label": lambda pa: pa.string(),
    "known_share": lambda pa: pa.float64(),
    "truncated": lambda pa: pa.bool_(),
    "model_version": lambda pa: pa.string(),
    "error": lambda pa: pa.string(),
    "error_message": lambda pa: pa.string(),
}


def _json_line(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # a lone surrogate (refused as invalid_text), which orjson will not write
        return (json.dumps(record, default=str) + "\n").encode("ascii")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value, default=str).decode()


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise needs("pyarrow", "bulk", "writing Parquet") from None
    return pyarrow


def columns_of(first_rows: Sequence[dict[str, Any]], text_column: str, keep_text: bool) -> tuple:
    """The kept columns, in order, from the first file's first rows."""
    keys = dict.fromkeys(k for row in first_rows[:1] for k in row)
    return tuple(k for k in keys if keep_text or k != text_column)


def write_parquet(path: Path, parts: Sequence[Path]) -> None:
    """Parquet parts into one file, one part in memory at a time, their schemas unified (a
    column null in one part and typed in another takes the type)."""
    pa = _pyarrow()
    import pyarrow.parquet as pq

    schema = pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")
    with pq.ParquetWriter(path, schema) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part).cast(schema))
