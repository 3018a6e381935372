"""Bulk scoring against the model's own speed: sentiment-score on files, side by side with the
in-process limit on the same texts, its peak memory as the input grows, and Ray's overhead.

    python -m benchmarks.bulk            # 200,000 long + 200,000 short texts, 1M rows for memory
    python -m benchmarks.bulk --quick    # 1,000 long + 8,000 short, 5,000 / 50,000 for memory

The texts come from the shared IMDB data (not committed): long are whole reviews of the train and
test splits, short each review's first 20 words (benchmarks.texts), drawn with replacement, with
a seed, to the counts asked for; each set is written to reports/bulk/ as a CSV of id, text.

  (a) the in-process limit: SentimentModel.predict in batches of 64, torch on every usable CPU,
      over the texts in slices of 8,192 (sorted by length within each, as predict does); and
      the same on one torch thread, over the first slice: on a 2-CPU machine that another
      process also uses, two OpenMP threads can be several times slower than one, and the
      figures give the ratio to the better of the two beside the ratio to (a);
  (b) sentiment-score FILE -o OUT.parquet in a fresh process, on every usable CPU (its default),
      in the same dtype; its rate is rows over the seconds from the model being loaded to the
      output being complete (its --summary-json), and the whole command's wall time is reported
      beside it. (a) and (b) alternate, round after round; figures are medians.
  (c) peak resident memory of (b) on N and 10 N short rows (the summary's peak_rss_mib);
  (d) sentiment-score --engine ray (a local Ray, the same CPUs) against (b) on the short texts,
      whole commands: Ray's start-up, scheduling and object store included;
  (e) one Ray actor's work without Ray, the sizing figures of docs/bulk-scoring.md: in a fresh
      process, SentimentScorer on one torch thread scores 4,096 long, then 4,096 short texts in
      batches of 1,024: rows/s per CPU for each, and the process's peak memory.
Writes reports/bulk.md and reports/bulk.json, and the figures to benchmarks/figures.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.bulk_report import IDLE_LOAD, markdown, record
from benchmarks.machine import cpu_description, settled_load
from benchmarks.texts import DEFAULT_IMDB, SHORT_WORDS
from model import SentimentModel
from model.runtime import resolve_device, resolve_dtype
from service.settings import usable_cpus

ROOT = Path(__file__).resolve().parents[1]
SLICE = 8192
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def make_texts(imdb_test: Path, count: int, with_train: bool, seed: int = 0) -> dict[str, list]:
    """`count` long and `count` short texts, drawn with replacement from the IMDB reviews."""
    from training.data import load_split

    sources = [imdb_test]
    train = imdb_test.with_name(imdb_test.name.replace("test", "train"))
    reviews = [r.text for r in load_split(sources, "test")]
    if with_train and train.exists():
        reviews += [r.text for r in load_split([train], "train")]
    rng = random.Random(seed)
    long = rng.choices(reviews, k=count)
    short = [
        " ".join(_BREAK.sub(" ", t).split()[:SHORT_WORDS]) for t in rng.choices(reviews, k=count)
    ]
    return {"long": long, "short": short}


def write_csv(path: Path, texts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text"])
        writer.writerows((i, t) for i, t in enumerate(texts))
    return path


def in_process_rate(model: SentimentModel, texts: list[str], threads: int) -> float:
    torch.set_num_threads(threads)
    model.predict(texts[:128])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(texts), SLICE):
        model.predict(texts[start : start + SLICE], batch_size=64)
    return len(texts) / (time.perf_counter() - started)


def run_cli(source: Path, out: Path, dtype: str, *extra: str) -> dict:
    """sentiment-score in a fresh process; its summary, with the command's wall seconds."""
    summary = out.with_name(out.name + ".summary.json")
    command = [
        sys.executable,
        "-m",
        "bulk",
        str(source),
        "-o",
        str(out),
        "--overwrite",
        "--quiet",
        "--dtype",
        dtype,
        "--summary-json",
        str(summary),
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    said = json.loads(summary.read_text())
    return {**said, "wall_s": wall, "wall_rows_per_s": said["rows"] / wall}


def side_by_side(texts: dict[str, list], folder: Path, dtype: str, rounds: int) -> dict:
    model = SentimentModel.load(dtype=dtype)
    rows = {}
    for kind, items in texts.items():
        source = write_csv(folder / f"{kind}.csv", items)
        limit, one, cli = [], [], []
        for r in range(rounds):
            limit.append(in_process_rate(model, items, usable_cpus()))
            one.append(in_process_rate(model, items[:SLICE], 1))
            cli.append(run_cli(source, folder / f"{kind}.scored.parquet", dtype))
            print(
                f"{kind} round {r + 1}: in-process {limit[-1]:.0f}/s ({one[-1]:.0f}/s on one "
                f"torch thread), sentiment-score {cli[-1]['rows_per_s']:.0f}/s "
                f"({cli[-1]['wall_rows_per_s']:.0f}/s whole command)",
                flush=True,
            )
        rows[kind] = {
            "texts": len(items),
            "in_process_rows_per_s": statistics.median(limit),
            "in_process_one_thread_rows_per_s": statistics.median(one),
            "cli_rows_per_s": statistics.median(c["rows_per_s"] for c in cli),
            "cli_wall_rows_per_s": statistics.median(c["wall_rows_per_s"] for c in cli),
            "cli_peak_rss_mib": max(c["peak_rss_mib"] for c in cli),
        }
        rows[kind]["ratio"] = rows[kind]["cli_rows_per_s"] / rows[kind]["in_process_rows_per_s"]
        best = max(
            rows[kind]["in_process_rows_per_s"], rows[kind]["in_process_one_thread_rows_per_s"]
        )
        rows[kind]["ratio_to_best"] = rows[kind]["cli_rows_per_s"] / best
    return rows


def memory(short: list[str], small: int, folder: Path, dtype: str) -> dict:
    """Peak resident memory of sentiment-score on `small` and 10 x `small` short rows."""
    out = {}
    for n in (small, 10 * small):
        texts = (short * (n // len(short) + 1))[:n]
        source = write_csv(folder / f"memory-{n}.csv", texts)
        out[n] = run_cli(source, folder / f"memory-{n}.scored.parquet", dtype)["peak_rss_mib"]
        print(f"memory: {n:,} rows, peak {out[n]:.0f} MiB", flush=True)
        source.unlink()
    return {
        "rows": list(out),
        "peak_rss_mib": list(out.values()),
        "growth": out[10 * small] / out[small],
    }


def ray_overhead(source: Path, folder: Path, dtype: str) -> dict:
    local = run_cli(source, folder / "ray-local.parquet", dtype)
    ray = run_cli(source, folder / "ray-out", dtype, "--engine", "ray")
    ratio = ray["wall_rows_per_s"] / local["wall_rows_per_s"]
    print(f"--engine ray: {ray['wall_s']:.1f} s against {local['wall_s']:.1f} s (x{ratio:.2f})")
    return {
        "local_wall_s": local["wall_s"],
        "ray_wall_s": ray["wall_s"],
        "ratio": ratio,
        "rows": local["rows"],
    }


ACTOR = """
import json, resource, sys, time
import pyarrow.csv as pacsv
from bulk.ray_data import SentimentScorer
scorer = SentimentScorer(dtype=sys.argv[1], torch_threads=1)
rates = {}
for kind, path in zip(("long", "short"), sys.argv[2:]):
    table = pacsv.read_csv(path)
    scorer(table.slice(0, 64))
    started = time.perf_counter()
    for start in range(0, table.num_rows, 1024):
        scorer(table.slice(start, 1024))
    rates[kind] = table.num_rows / (time.perf_counter() - started)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows_per_s_per_cpu": rates, "peak_rss_mib": peak}))
"""


def actor(texts: dict[str, list], folder: Path, dtype: str) -> dict:
    paths = [str(write_csv(folder / f"actor-{k}.csv", texts[k][:4096])) for k in ("long", "short")]
    command = [sys.executable, "-c", ACTOR, dtype, *paths]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the actor measurement failed:\n{done.stderr[-3000:]}")
    said = json.loads(done.stdout.splitlines()[-1])
    print(f"one actor: {said}", flush=True)
    return said


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--imdb", type=Path, default=DEFAULT_IMDB, help="IMDB test split archive")
    p.add_argument("--quick", action="store_true", help="1,000 long + 8,000 short texts")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--dtype", default="auto", help="for both: auto|fp32|bf16")
    p.add_argument("--out", type=Path, default=ROOT / "reports")
    args = p.parse_args()
    dtype = resolve_dtype(args.dtype, resolve_device("cpu"))
    load_before = settled_load(IDLE_LOAD)
    folder = args.out / "bulk"
    if args.quick:
        texts = make_texts(args.imdb, 8000, with_train=False)
        texts["long"] = texts["long"][:1000]
        small = 5000
    else:
        texts, small = make_texts(args.imdb, 200_000, with_train=True), 100_000
    rows = side_by_side(texts, folder, dtype, args.rounds)
    mem = memory(texts["short"], small, folder, dtype)
    ray = ray_overhead(folder / "short.csv", folder, dtype)
    report = {
        "cpu": cpu_description(),
        "dtype": dtype,
        "quick": args.quick,
        "side_by_side": rows,
        "memory": mem,
        "ray": ray,
        "actor": actor(texts, folder, dtype),
    }
    report["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bulk.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "bulk.md").write_text(markdown(report))
    record(report, "python -m benchmarks.bulk" + (" --quick" if args.quick else ""))


if __name__ == "__main__":
    main()
