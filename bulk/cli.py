"""sentiment-score / python -m bulk: score the texts of files, on this machine or a Ray cluster.

The parser imports nothing heavier than the service's settings (for their defaults and the CPU
count): --help and --version answer without torch, spaCy or Ray. A run imports what it needs.
Errors the user can fix (bulk.errors.BulkError) end it with one line on stderr and exit status 2;
Ctrl-C with 130 and, for a run to a file, the command that continues it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from bulk.errors import BulkError
from bulk.scoring import ADDED, Limits

PROG = "sentiment-score"
EXAMPLES = """examples:
  sentiment-score reviews.csv -o scores.csv
  sentiment-score 'lake/2026-*.jsonl.gz' --text-column body -o scores.parquet
  sentiment-score reviews.parquet -o scores.parquet --resume     # after Ctrl-C or a crash
  sentiment-score reviews.csv --output-format jsonl | head
  sentiment-score s3://bucket/reviews/ -o s3://bucket/scores/ --engine ray --ray-address auto

Each output row is its input row without the text (--keep-text keeps it), then the columns
{added}. A row whose text is missing, not a string, empty once cleaned or too long gets a null
score and its reason in error (the codes /predict uses, and missing_text, not_a_string); the run
goes on. More: docs/bulk-scoring.md.
"""


def package_version() -> str:
    try:
        return metadata.version("sentiment-service")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    from service.settings import usable_cpus

    limits = Limits.service_defaults()
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Score the texts of CSV, TSV, JSON Lines or Parquet files with the sentiment "
        "model: P(positive) for each row, streamed, on every CPU given, resumable.",
        epilog=EXAMPLES.format(added=", ".join(ADDED)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="a file, a folder or a glob (quoted): .csv, .tsv, .jsonl, .parquet; .csv, .tsv and "
        ".jsonl may end in .gz or .zst",
    )
    p.add_argument(
        "-o",
        "--output",
        help="the output file, its format by extension (.csv, .tsv, .jsonl, .parquet); with "
        "--engine ray, a folder; default: stdout",
    )
    p.add_argument(
        "--output-format",
        choices=["csv", "tsv", "jsonl", "parquet"],
        help="format for stdout (default jsonl), or of --engine ray's folder (default: its "
        "extension, else parquet)",
    )
    p.add_argument("--text-column", default="text", help="the column of the texts (default: text)")
    p.add_argument("--keep-text", action="store_true", help="keep the text column in the output")
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: CUDA when available (default: auto)",
    )
    p.add_argument(
        "--dtype",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="auto: bf16 on GPUs and CPUs with native bf16, else fp32, as the service (default: "
        "auto)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=usable_cpus(),
        help="CPUs to use, as the service splits them into batches side by side (default: the "
        "CPUs this process may use, %(default)s here)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="texts per pass (default: 64)")
    p.add_argument(
        "--part-rows",
        type=int,
        default=1024,
        help="rows per part written, the unit a resumed run skips (default: 1024)",
    )
    p.add_argument(
        "--max-text-chars",
        type=int,
        default=limits.max_text_chars,
        help="longer texts are refused (text_too_long) or truncated, as by the service "
        f"(default: {limits.max_text_chars}, the service's)",
    )
    p.add_argument(
        "--long-texts",
        choices=["refuse", "truncate"],
        default=limits.long_texts,
        help=f"what to do with them (default: {limits.long_texts}, the service's)",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--overwrite", action="store_true", help="replace an output or start over")
    p.add_argument("--quiet", action="store_true", help="no progress line and no summary")
    p.add_argument("--summary-json", type=Path, help="also write the summary to this file")
    p.add_argument(
        "--engine",
        choices=["local", "ray"],
        default="local",
        help="local: this process; ray: Ray Data, pip install 'sentiment-service[ray]' "
        "(default: local)",
    )
    p.add_argument(
        "--ray-address", help="with --engine ray: a cluster's address (default: a local Ray)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    from bulk.run import Options  # after parsing: still no torch

    try:
        if args.workers < 1 or args.batch_size < 1 or args.part_rows < 1:
            raise BulkError("--workers, --batch-size and --part-rows must be at least 1")
        limits = Limits(args.max_text_chars, args.long_texts)
    except (BulkError, ValueError) as exc:
        return _fail(exc)
    options = Options(
        inputs=args.inputs,
        output=None if args.output in (None, "-") else Path(args.output),
        output_format=args.output_format,
        text_column=args.text_column,
        keep_text=args.keep_text,
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        workers=args.workers,
        batch_size=args.batch_size,
        part_rows=args.part_rows,
        limits=limits,
        resume=args.resume,
        overwrite=args.overwrite,
        quiet=args.quiet,
    )
    try:
        if args.engine == "ray":
            from bulk.ray_engine import run_ray

            tally = run_ray(options, args.output, args.ray_address)
        else:
            from bulk.run import run_local

            tally = run_local(options)
    except BulkError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        hint = "; continue with the same command and --resume" if options.output else ""
        print(f"{PROG}: interrupted{hint}", file=sys.stderr)
        return 130
    if not args.quiet:
        for line in tally.lines():
            print(f"{PROG}: {line}", file=sys.stderr)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(tally.as_dict(), indent=2) + "\n")
    return 0


def _fail(exc: Exception) -> int:
    print(f"{PROG}: error: {exc}", file=sys.stderr)
    return 2
