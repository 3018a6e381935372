"""How the service spends its CPUs on torch, measured.

    python -m benchmarks.threads [--model DIR] [--threads 2]
        the same forward pass when torch's parallel work comes from one thread only, and after
        a second thread has issued some too (why every torch call runs on set-up threads);
    python -m benchmarks.threads --concurrency [--model DIR]
        texts per second for one batch at a time on all CPUs, against one batch per CPU side
        by side with one torch thread each (why the service runs batches side by side).

Each case runs in a fresh process, so no OpenMP state carries over between them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CASES = {
    "main thread only": ["main"],
    "worker thread only": ["worker"],
    "main thread, then a worker thread": ["main", "worker"],
}


def time_batches(model_path: str | None, threads: int, where: list[str]) -> list[str]:
    import torch

    from model import SentimentModel

    torch.set_num_threads(threads)
    model = SentimentModel.load(model_path, dtype="auto")
    texts = ["A moving story and a fine cast; I would happily watch it again." for _ in range(64)]
    batches = {"1 short text": model.encode(texts[:1]), "64 short texts": model.encode(texts)}

    def median_ms(ids: list[list[int]]) -> float:
        model.score_ids(ids)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            model.score_ids(ids)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    rows = []
    with ThreadPoolExecutor(1) as worker:
        for place in where:
            for name, ids in batches.items():
                ms = median_ms(ids) if place == "main" else worker.submit(median_ms, ids).result()
                rows.append(f"  on the {place} thread: {name:>15}: {ms:6.1f} ms")
    return rows


def side_by_side(model_path: str | None) -> list[str]:
    import torch

    from benchmarks.texts import DEFAULT_IMDB, load_texts
    from model import SentimentModel
    from service.settings import usable_cpus

    cpus = usable_cpus()
    model = SentimentModel.load(model_path, dtype="auto")
    texts = load_texts(DEFAULT_IMDB, 2048)
    rows = []
    for kind, count in (("short", 40), ("long", 6)):
        batches = [model.encode(texts[kind][i * 64 : (i + 1) * 64]) for i in range(count)]
        for threads, side in ((cpus, 1), (1, cpus)):

            def work(part: list, threads: int = threads) -> None:
                torch.set_num_threads(threads)
                for ids in part:
                    model.score_ids(ids)

            with ThreadPoolExecutor(side) as pool:
                list(pool.map(work, [batches[k : k + 1] for k in range(side)]))  # warm-up
                started = time.perf_counter()
                list(pool.map(work, [batches[k::side] for k in range(side)]))
                rate = count * 64 / (time.perf_counter() - started)
            rows.append(
                f"  {kind:>5} texts, {side} batch(es) at once x {threads} torch thread(s): "
                f"{rate:7.1f} texts/s"
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument(
        "--concurrency", action="store_true", help="batches side by side vs one at a time"
    )
    p.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # one case, in a child process
    args = p.parse_args()
    model = str(args.model) if args.model else None
    if args.concurrency:
        print("\n".join(side_by_side(model)))
        return
    if args.case:
        print("\n".join(time_batches(model, args.threads, CASES[args.case])))
        return
    for case in CASES:
        print(f"{case} ({args.threads} torch threads):", flush=True)
        extra = ["--model", model] if model else []
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.threads",
                "--case",
                case,
                "--threads",
                str(args.threads),
                *extra,
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
