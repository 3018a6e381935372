"""A local `sentiment-score` run, top to bottom: the inputs, the output's layout, the model, the
engine, the parts, the summary. bulk.ray_engine is the same run on a Ray cluster.

To a file, each chunk is written as a part as soon as it is scored (bulk.parts), in whatever
order the inference threads finish; the parts are joined in input order at the end. To stdout,
chunks are written in input order as they come, holding back those that finish early (at most
one per inference thread and one in the queue), and a run cannot be resumed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bulk.chunks import chunks
from bulk.errors import BulkError
from bulk.inputs import InputFile, expand, identity, read, total_bytes
from bulk.outputs import TEXT_FORMATS, Layout, columns_of, output_format
from bulk.parts import Parts
from bulk.progress import Progress, Tally
from bulk.scoring import Limits

# A part per 1,024 rows: a resumed run redoes at most that many per inference thread, a million
# rows make about a thousand parts, and a chunk of long reviews with their token ids holds about
# 12 MB while it waits in the queue.
PART_ROWS = 1024


@dataclass(frozen=True)
class Options:
    inputs: list[str]
    output: Path | None  # None: stdout
    output_format: str | None  # for stdout; a file's format is its extension
    text_column: str = "text"
    keep_text: bool = False
    model: Path | None = None
    device: str = "auto"
    dtype: str = "auto"
    workers: int = 1  # CPUs to use
    batch_size: int = 64
    part_rows: int = PART_ROWS
    limits: Limits = field(default_factory=Limits.service_defaults)
    resume: bool = False
    overwrite: bool = False
    quiet: bool = False


def run_local(options: Options) -> Tally:
    files = [f for spec in options.inputs for f in expand(spec)]
    layout = make_layout(options, files)
    if options.output is None and options.resume:
        raise BulkError("--resume needs --output FILE: a run to stdout cannot be resumed")
    model = load_model(options)
    manifest = run_manifest(options, files, layout, model)
    from bulk.local import LocalEngine
    from service.engine.threads import split_cpus

    plan = split_cpus(options.workers, cuda=model.device.type == "cuda")
    engine = LocalEngine(model, options.limits, plan, options.text_column, options.batch_size)
    tally = Tally()
    progress = Progress.for_terminal(total_bytes(files), options.quiet)
    source = chunks(files, options.text_column, options.part_rows)
    try:
        if options.output is None:
            _to_stream(engine.run(source, set()), layout, sys.stdout.buffer, tally, progress)
        else:
            parts = Parts(options.output, layout, manifest)
            if options.resume and parts.complete():
                return tally
            done = parts.start(options.resume, options.overwrite)
            count = _to_parts(engine.run(source, done), parts, tally, progress)
            parts.finish(count)
    finally:
        progress.close()
    tally.seconds = time.perf_counter() - tally.started
    return tally


def make_layout(options: Options, files: list[InputFile]) -> Layout:
    if options.output is not None:
        fmt = output_format(options.output)
    else:
        fmt = options.output_format or "jsonl"
        if fmt not in TEXT_FORMATS:
            raise BulkError(f"--output-format {fmt}: stdout takes csv, tsv or jsonl")
    columns: tuple[str, ...] = ()
    if fmt in ("csv", "tsv"):  # one header: the first file's columns
        first = next(read(files[0], options.text_column, 1), None)
        columns = columns_of(first.rows if first else [], options.text_column, options.keep_text)
    return Layout(fmt, options.text_column, options.keep_text, columns)


def load_model(options: Options) -> Any:
    """The model where and in the precision asked for; BulkError when this machine cannot."""
    from model.api import SentimentModel
    from model.artifact import ArtifactError

    bound_native_memory()
    try:
        return SentimentModel.load(options.model, device=options.device, dtype=options.dtype)
    except ArtifactError as exc:
        raise BulkError(f"--model: {exc}") from None
    except ValueError as exc:  # model.runtime: no CUDA, or no native bf16 (PrecisionError)
        flag = "--dtype" if "dtype" in str(exc) else "--device"
        raise BulkError(f"{flag}: {exc}") from None


def bound_native_memory() -> None:
    """The service's bounds on oneDNN's kernel cache and glibc's arenas, at their defaults
    (service.engine.native), before the first forward pass: a bulk run sees every length."""
    from service.engine.native import bound
    from service.settings import Settings

    fields = Settings.model_fields
    bound(fields["onednn_cache_capacity"].default, fields["malloc_arenas"].default)


def run_manifest(options: Options, files: list[InputFile], layout: Layout, model: Any) -> dict:
    """What a resumed run must share with the one it continues."""
    return {
        "inputs": identity(files),
        "text_column": options.text_column,
        "keep_text": options.keep_text,
        "part_rows": options.part_rows,
        "format": layout.format,
        "columns": list(layout.columns),
        "model_version": model.version,
        "dtype": model.dtype,
        "max_text_chars": options.limits.max_text_chars,
        "long_texts": options.limits.long_texts,
    }


def _to_parts(results: Any, parts: Parts, tally: Tally, progress: Progress) -> int:
    """Write each scored chunk as its part; the number of chunks."""
    count = 0
    for result in results:
        count = max(count, result.chunk.index + 1)
        if result.added is None:
            tally.skipped += len(result.chunk.rows)
        else:
            parts.write(result.chunk.index, result.chunk, result.added)
            tally.add(result.added)
        progress.update(tally.rows + tally.skipped, result.chunk.bytes_read)
    return count


def _to_stream(
    results: Any, layout: Layout, stream: IO[bytes], tally: Tally, progress: Progress
) -> None:
    """Write scored chunks in input order."""
    layout.write_header(stream)
    waiting: dict[int, Any] = {}
    following = 0
    for result in results:
        waiting[result.chunk.index] = result
        while following in waiting:
            ready = waiting.pop(following)
            layout.write(stream, ready.chunk, ready.added)
            tally.add(ready.added)
            following += 1
            progress.update(tally.rows, ready.chunk.bytes_read)
    stream.flush()
