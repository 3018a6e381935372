"""sentiment-score --engine ray: the same scoring through Ray Data, on a local Ray or a cluster.

The inputs (local paths, folders and globs, or object storage URIs such as s3://bucket/reviews/,
listed with pyarrow's filesystems) are cut into waves of up to FILES_PER_WAVE files of one format.
Each wave is one Ray Data pipeline: read_parquet / read_csv / read_json -> map_batches with
SentimentScorer (bulk.ray_data) on an actor pool of --workers actors, one CPU each (one GPU each
with --device cuda) -> write_parquet / write_csv / write_json into OUTPUT/wave-NNNNN/. When a
wave is written, OUTPUT/wave-NNNNN/_SUCCESS records its row counts; --resume skips the waves that
have one and deletes and redoes the others, so that a row is never written twice. The output is a
folder of files (readers such as pyarrow, pandas, Spark and Ray read it whole and skip _ files);
rows are not in input order: join on an id column.

CSV and TSV are read with every column as a string, as the local engine reads them. JSON Lines
and Parquet columns are typed by Arrow, which needs one type per column in a file.
A local Ray is started with --workers + 1 CPUs: the actors take --workers, and Ray Data's read
and write tasks the one left (with none left, they would wait for ever).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from bulk.errors import BulkError, needs
from bulk.inputs import expand, file_format
from bulk.outputs import OUTPUT_FORMATS
from bulk.progress import Tally
from bulk.run import Options

FILES_PER_WAVE = 32
MANIFEST, DONE = "_manifest.json", "_SUCCESS"


def run_ray(options: Options, output: str | None, address: str | None) -> Tally:
    if not output or output == "-":
        raise BulkError("--engine ray needs --output FOLDER (a local path or a URI, s3://...)")
    try:
        import pyarrow.fs as pafs
        import ray
    except ImportError:
        raise needs("ray", "ray", "--engine ray") from None
    fs, root = pafs.FileSystem.from_uri(_uri(output))
    inputs = [f for spec in options.inputs for f in _list(spec)]
    fmt = options.output_format or OUTPUT_FORMATS.get(PurePosixPath(root).suffix, "parquet")
    manifest = _manifest(options, inputs, fmt)
    _start(fs, root, manifest, options)
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else options.workers + 1)
    ray.data.DataContext.get_current().enable_progress_bars = not options.quiet
    tally = Tally()
    for number, wave in enumerate(_waves(inputs)):
        folder = f"{root}/wave-{number:05d}"
        done = _read_done(fs, folder)
        if done is not None and options.resume:
            tally.skipped += done["rows"]
            continue
        fs.delete_dir_contents(folder, missing_dir_ok=True)
        _run_wave(ray, fs, wave, folder, fmt, options)
        counts = _counts(fs, folder, fmt)
        _write(fs, f"{folder}/{DONE}", {"rows": sum(counts.values()), "refused": counts})
        tally.rows += sum(counts.values())
        tally.refused.update({k: n for k, n in counts.items() if k})
    tally.seconds = time.perf_counter() - tally.started
    return tally


def _uri(path: str) -> str:
    return path if "://" in path else str(Path(path).resolve())


def _list(spec: str) -> list[dict[str, Any]]:
    """The input files: {uri, format, compression, size, mtime}."""
    if "://" not in spec:
        return [
            {
                "uri": str(f.path.resolve()),
                "format": f.format,
                "compression": f.compression,
                "size": f.size,
                "mtime_ns": f.path.stat().st_mtime_ns,
            }
            for f in expand(spec)
        ]
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(spec)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise BulkError(f"{spec}: no such file or folder")
    infos = (
        [info]
        if info.type == pafs.FileType.File
        else fs.get_file_info(pafs.FileSelector(root, recursive=True))
    )
    scheme = spec.split("://", 1)[0]
    files = []
    for i in sorted(infos, key=lambda i: i.path):
        kind = file_format(Path(i.base_name))
        if i.type == pafs.FileType.File and kind and not i.base_name.startswith(("_", ".")):
            files.append(
                {
                    "uri": f"{scheme}://{i.path}",
                    "format": kind[0],
                    "compression": kind[1],
                    "size": i.size,
                    "mtime_ns": i.mtime_ns,
                }
            )
    if not files:
        raise BulkError(f"{spec}: no .csv, .tsv, .jsonl or .parquet file in it")
    return files


def _manifest(options: Options, inputs: list[dict], fmt: str) -> dict[str, Any]:
    return {
        "inputs": inputs,
        "files_per_wave": FILES_PER_WAVE,
        "text_column": options.text_column,
        "keep_text": options.keep_text,
        "format": fmt,
        "model": str(options.model) if options.model else "bundled",
        "dtype": options.dtype,
        "max_text_chars": options.limits.max_text_chars,
        "long_texts": options.limits.long_texts,
    }


def _start(fs: Any, root: str, manifest: dict[str, Any], options: Options) -> None:
    """An empty output folder with the manifest; or, with --resume, the interrupted run's."""
    import pyarrow.fs as pafs

    exists = fs.get_file_info(root).type != pafs.FileType.NotFound
    if exists and options.resume:
        before = _read_json(fs, f"{root}/{MANIFEST}")
        for key, value in manifest.items():
            if before is None or before.get(key) != value:
                raise BulkError(
                    f"--resume: the run in {root} had another {key}; run it with what it had, "
                    "or pass --overwrite to start again"
                )
        return
    if exists and fs.get_file_info(pafs.FileSelector(root)) and not options.overwrite:
        raise BulkError(f"{root} is not empty: pass --resume to continue or --overwrite to replace")
    fs.create_dir(root, recursive=True)
    fs.delete_dir_contents(root)
    _write(fs, f"{root}/{MANIFEST}", manifest)


def _waves(inputs: list[dict]) -> list[list[dict]]:
    """Consecutive files, up to FILES_PER_WAVE, of one format and compression each."""
    waves: list[list[dict]] = []
    for f in inputs:
        last = waves[-1] if waves else None
        same = last and (last[0]["format"], last[0]["compression"]) == (
            f["format"],
            f["compression"],
        )
        if same and len(last) < FILES_PER_WAVE:
            last.append(f)
        else:
            waves.append([f])
    return waves


def _run_wave(ray: Any, fs: Any, wave: list[dict], folder: str, fmt: str, options: Options) -> None:
    from bulk.ray_data import SentimentScorer

    cuda = options.device == "cuda"
    ds = _read(ray, wave, options.text_column)
    scored = ds.map_batches(
        SentimentScorer,
        fn_constructor_kwargs={
            "model": str(options.model) if options.model else None,
            "text_column": options.text_column,
            "keep_text": options.keep_text,
            "device": "cuda" if cuda else "cpu",
            "dtype": options.dtype,
            "max_text_chars": options.limits.max_text_chars,
            "long_texts": options.limits.long_texts,
            "batch_size": options.batch_size,
            "torch_threads": 1 if not cuda else None,
        },
        batch_format="pyarrow",
        batch_size=options.part_rows,
        compute=ray.data.ActorPoolStrategy(size=options.workers),
        num_cpus=1,
        num_gpus=1 if cuda else 0,
    )
    _write_dataset(scored, fs, folder, fmt)


def _read(ray: Any, wave: list[dict], text_column: str) -> Any:
    """A wave's files as one dataset; Ray finds each URI's filesystem itself."""
    paths, first = [f["uri"] for f in wave], wave[0]
    if first["format"] == "parquet":
        return ray.data.read_parquet(paths)
    if first["format"] == "jsonl":  # .gz and .zst: Ray infers the compression from the name
        return ray.data.read_json(paths, lines=True)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    delimiter = "\t" if first["format"] == "tsv" else ","
    header = _header(paths[0], first["compression"], delimiter)
    if text_column not in header:
        raise BulkError(f"{first['uri']}: no column {text_column!r}; its columns are {header}")
    return ray.data.read_csv(
        paths,
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=False
        ),
    )


def _header(uri: str, compression: str | None, delimiter: str) -> list[str]:
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    with fs.open_input_stream(path, compression=compression) as raw:
        first = io.TextIOWrapper(io.BytesIO(raw.read(1 << 20)), encoding="utf-8-sig").readline()
    return next(csv.reader([first], delimiter=delimiter), [])


def _write_dataset(ds: Any, fs: Any, folder: str, fmt: str) -> None:
    if fmt == "parquet":
        ds.write_parquet(folder, filesystem=fs)
    elif fmt == "jsonl":
        ds.write_json(folder, filesystem=fs)
    else:
        import pyarrow.csv as pacsv

        options = pacsv.WriteOptions(delimiter="\t" if fmt == "tsv" else ",")
        ds.write_csv(folder, filesystem=fs, arrow_csv_args_fn=lambda: {"write_options": options})


def _counts(fs: Any, folder: str, fmt: str) -> dict[str, int]:
    """Rows written to `folder` by error code ("" for scored rows): its error column alone,
    read back on this process a batch at a time (Parquet reads nothing else)."""
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.dataset as pads

    kind: Any = {"parquet": "parquet", "jsonl": "json"}.get(fmt) or pads.CsvFileFormat(
        parse_options=pacsv.ParseOptions(
            delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True
        )
    )
    dataset = pads.dataset(folder, filesystem=fs, format=kind, ignore_prefixes=["_", "."])
    counts: Counter[str] = Counter()
    for batch in dataset.to_batches(columns=["error"]):
        counted = pc.value_counts(batch.column("error").cast("string").fill_null(""))
        values, rows = counted.field("values").to_pylist(), counted.field("counts").to_pylist()
        counts.update(dict(zip(values, rows, strict=True)))
    return dict(counts)


def _read_done(fs: Any, folder: str) -> dict[str, Any] | None:
    return _read_json(fs, f"{folder}/{DONE}")


def _read_json(fs: Any, path: str) -> Any:
    try:
        with fs.open_input_stream(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def _write(fs: Any, path: str, value: Any) -> None:
    with fs.open_output_stream(path) as f:
        f.write((json.dumps(value, indent=2) + "\n").encode())
