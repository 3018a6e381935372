"""The input side of `sentiment-score`: which files an input names, and their rows, streamed.

An input is a file, a folder (every file in it, recursively, whose name says a format; names
starting with "." or "_", such as _SUCCESS, are skipped) or a glob, read in sorted order. A file's
format is its extension: .csv, .tsv, .jsonl (or .ndjson) and .parquet; .csv, .tsv and .jsonl may
be compressed, .gz (gzip, from the standard library) or .zst (zstd: the zstandard package, in the
`bulk` extra, as is pyarrow for Parquet).

`read(file, text_column, rows)` yields Batches of at most `rows` rows (dicts, in the file's
column order), never holding more of a file in memory. CSV and TSV need a header row and UTF-8
(a BOM is fine); every field is a string, so an empty field is an empty text. JSON Lines: one
object a line, blank lines skipped; a value may be of any JSON type, and a "\\ud800" escape (a
lone surrogate) is read as the standard parser reads it, so that its row, not the run, is
refused as invalid_text, as /predict refuses it. Anything else that cannot be read (no such
file, bad compression, not UTF-8, a CSV row with the wrong number of fields, a line that is not a
JSON object, a missing text column) raises BulkError naming the file, the row and the fix.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from bulk.errors import BulkError, needs

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}
csv.field_size_limit(sys.maxsize)  # the text limits (model.limits), not the csv module's, apply


@dataclass(frozen=True)
class InputFile:
    path: Path
    format: str  # csv | tsv | jsonl | parquet
    compression: str | None  # gzip | zstd | None
    size: int  # bytes on disk, for the progress line

    def where(self, row: int) -> str:
        return f"{self.path}, row {row:,}"


@dataclass
class Batch:
    """Consecutive rows of one file."""

    file: InputFile
    first_row: int  # 1-based data row (a header is not counted)
    rows: list[dict[str, Any]]
    arrow: Any = None  # for Parquet: the rows as read (a pyarrow Table), types kept
    bytes_read: int = 0  # of the file on disk, so far


def file_format(path: Path) -> tuple[str, str | None] | None:
    """(format, compression) from the name, or None for a name that says no format."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None or (fmt == "parquet" and compression):
        return None
    return fmt, compression


def expand(spec: str) -> list[InputFile]:
    """The files an input names, in sorted order; BulkError when it names none."""
    path = Path(spec)
    if path.is_dir():
        candidates = sorted(p for p in path.rglob("*") if p.is_file())
        candidates = [p for p in candidates if not p.name.startswith((".", "_"))]
    elif glob.has_magic(spec):
        candidates = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    elif path.exists():
        candidates = [path]
    else:
        raise BulkError(f"{spec}: no such file, folder or matching glob")
    files = []
    for p in candidates:
        kind = file_format(p)
        if kind is None:
            if p == path:
                raise BulkError(f"{p}: {unknown_format()}")
            continue
        files.append(InputFile(p, kind[0], kind[1], p.stat().st_size))
    if not files:
        raise BulkError(f"{spec}: no file in it says its format by its name; {unknown_format()}")
    return files


def unknown_format() -> str:
    return (
        "name files .csv, .tsv, .jsonl or .parquet (.csv, .tsv and .jsonl may end in .gz or .zst)"
    )


def read(file: InputFile, text_column: str, rows: int) -> Iterator[Batch]:
    """The file's rows, `rows` at a time; BulkError as soon as something cannot be read."""
    try:
        if file.format == "parquet":
            yield from _parquet(file, text_column, rows)
        elif file.format == "jsonl":
            yield from _jsonl(file, text_column, rows)
        else:
            yield from _delimited(file, text_column, rows)
    except (OSError, EOFError, *_zstd_errors()) as exc:  # gzip's BadGzipFile is an OSError
        raise BulkError(f"{file.path}: cannot be read: {exc}") from exc


def _zstd_errors() -> tuple[type[Exception], ...]:
    try:
        import zstandard
    except ImportError:
        return ()
    return (zstandard.ZstdError,)


def _raw_and_stream(file: InputFile) -> tuple[IO[bytes], IO[bytes]]:
    """The file on disk (whose position is the progress) and its decompressed bytes."""
    raw = file.path.open("rb")
    if file.compression == "gzip":
        return raw, gzip.GzipFile(fileobj=raw)
    if file.compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raw.close()
            raise needs("zstandard", "bulk", f"reading {file.path} (zstd)") from None
        # Buffered: zstandard's reader has no readline, which JSON Lines needs.
        return raw, io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw))
    return raw, raw


def _delimited(file: InputFile, text_column: str, rows: int) -> Iterator[Batch]:
    raw, stream = _raw_and_stream(file)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, dialect="excel-tab" if file.format == "tsv" else "excel")
    row = 0
    try:
        header = next(reader, None)
        if header is None:
            raise BulkError(f"{file.path}: the file is empty; a header row must name the columns")
        _check_columns(file, header, text_column)
        batch: list[dict[str, Any]] = []
        for row, fields in enumerate(reader, start=1):
            if len(fields) != len(header):
                raise BulkError(
                    f"{file.where(row)} (line {reader.line_num:,}): {len(fields)} fields where "
                    f"the header has {len(header)}; quote a field that holds the delimiter, a "
                    "quote or a line break"
                )
            batch.append(dict(zip(header, fields, strict=True)))
            if len(batch) == rows:
                yield Batch(file, row - rows + 1, batch, bytes_read=raw.tell())
                batch = []
        if batch:
            yield Batch(file, row - len(batch) + 1, batch, bytes_read=raw.tell())
    except UnicodeDecodeError as exc:
        raise BulkError(
            f"{file.path}, line {_first_bad_line(file):,}: not UTF-8 ({exc.reason}); convert "
            "the file, e.g. iconv -f LATIN1 -t UTF-8"
        ) from None
    except csv.Error as exc:
        raise BulkError(f"{file.where(row + 1)}: {exc}") from None
    finally:
        text.close()


def _first_bad_line(file: InputFile) -> int:
    """The line of the first bytes that are not UTF-8 (the decoder reads blocks, not lines)."""
    raw, stream = _raw_and_stream(file)
    with raw, stream:
        for number, line in enumerate(stream, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _check_columns(file: InputFile, columns: list[str], text_column: str) -> None:
    if text_column not in columns:
        raise BulkError(
            f"{file.path}: no column {text_column!r}; its columns are "
            f"{', '.join(map(repr, columns))}: name the text's with --text-column"
        )
    if len(set(columns)) != len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise BulkError(f"{file.path}: the header names {', '.join(map(repr, twice))} twice")


def _jsonl(file: InputFile, text_column: str, rows: int) -> Iterator[Batch]:
    raw, stream = _raw_and_stream(file)
    seen_text = False
    batch: list[dict[str, Any]] = []
    first, row = 1, 0
    with raw, stream:
        for line_number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            value = _json_object(file, line, line_number)
            row += 1
            seen_text = seen_text or text_column in value
            batch.append(value)
            if len(batch) == rows:
                _check_key(file, seen_text, text_column, batch)
                yield Batch(file, first, batch, bytes_read=raw.tell())
                batch, first = [], row + 1
        if batch:
            _check_key(file, seen_text, text_column, batch)
            yield Batch(file, first, batch, bytes_read=raw.tell())


def _json_object(file: InputFile, line: bytes, line_number: int) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        value = _with_surrogates(line) if "surrogate" in str(exc) else None
        if value is None:
            raise BulkError(
                f"{file.path}, line {line_number:,}: not JSON ({exc}); JSON Lines holds one "
                "object a line"
            ) from None
    if not isinstance(value, dict):
        raise BulkError(
            f"{file.path}, line {line_number:,}: a JSON {type(value).__name__}, not an "
            'object; JSON Lines for scoring holds one object a line, {"text": ...}'
        )
    return value


def _with_surrogates(line: bytes) -> Any:
    """The standard parser reads "\\ud800"; its row is then refused as invalid_text."""
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def _check_key(file: InputFile, seen: bool, text_column: str, batch: list[dict]) -> None:
    """No row of a file's first batch has the text's key: the wrong --text-column, surely."""
    if not seen:
        keys = list(dict.fromkeys(k for row in batch[:100] for k in row))
        raise BulkError(
            f"{file.path}: no row of the first {len(batch):,} has the key {text_column!r}; "
            f"its keys are {', '.join(map(repr, keys))}: name the text's with --text-column"
        )


def _parquet(file: InputFile, text_column: str, rows: int) -> Iterator[Batch]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise needs("pyarrow", "bulk", f"reading {file.path} (Parquet)") from None
    try:
        parquet = pq.ParquetFile(file.path)
    except pa.ArrowException as exc:
        raise BulkError(f"{file.path}: not a Parquet file ({exc})") from None
    _check_columns(file, parquet.schema_arrow.names, text_column)
    total, done = max(1, parquet.metadata.num_rows), 0
    try:
        for record_batch in parquet.iter_batches(batch_size=rows):
            table = pa.Table.from_batches([record_batch])
            done += table.num_rows
            yield Batch(
                file, done - table.num_rows + 1, table.to_pylist(), table, file.size * done // total
            )
    except pa.ArrowException as exc:
        raise BulkError(f"{file.where(done + 1)}: cannot be read ({exc})") from None


def total_bytes(files: list[InputFile]) -> int:
    return sum(f.size for f in files) or 1


def identity(files: list[InputFile]) -> list[dict[str, Any]]:
    """What a resumed run checks is unchanged: each file's path, size and modification time."""
    return [
        {"path": str(f.path.resolve()), "size": f.size, "mtime_ns": os.stat(f.path).st_mtime_ns}
        for f in files
    ]
