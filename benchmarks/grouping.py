"""The cost model behind the service's length grouping (service/engine/grouping.py), measured.

    python -m benchmarks.grouping [--model DIR] [--dtype bf16] [--threads 1]

Times one forward pass (SentimentModel.score_ids) over n texts of L tokens, for several n and
L, as the service runs it (one torch thread per batch, bf16 where the CPU has it), and fits

    seconds = a + b * L + c * n * L

by least squares on relative error (each pass counts alike, whatever its size). In units of
one token-step (c), a pass costs FIXED = a / c before it starts and PER_STEP = b / c more per
time step than its tokens: the two constants of service.engine.grouping.groups().
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from model import SentimentModel
from model.runtime import cpu_has_native_bf16

SIZES = (1, 4, 16, 64)
LENGTHS = (16, 64, 256, 800)


def seconds_per_pass(model: SentimentModel, n: int, length: int, repeats: int) -> float:
    """Median wall time of score_ids on n texts of `length` ordinary word ids."""
    ids = [[2 + (i * 7 + j) % 1000 for j in range(length)] for i in range(n)]
    model.score_ids(ids)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.score_ids(ids)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument("--dtype", default="bf16" if cpu_has_native_bf16() else "fp32")
    p.add_argument("--threads", type=int, default=1, help="torch threads (the service uses 1)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = SentimentModel.load(args.model, dtype=args.dtype)
    rows = []
    for n in SIZES:
        for length in LENGTHS:
            seconds = seconds_per_pass(model, n, length, args.repeats)
            rows.append((n, length, seconds))
            print(f"n {n:>2}  L {length:>3}  {seconds * 1000:8.2f} ms", flush=True)
    design = np.array([[1.0, length, n * length] for n, length, _ in rows])
    observed = np.array([s for _, _, s in rows])
    weights = 1.0 / observed[:, None]
    a, b, c = np.linalg.lstsq(design * weights, np.ones(len(rows)), rcond=None)[0]
    worst = max(abs(design[i] @ (a, b, c) / observed[i] - 1) for i in range(len(rows)))
    print(f"fit: {a * 1000:.3f} ms + L * {b * 1e6:.2f} us + n * L * {c * 1e6:.3f} us")
    print(f"FIXED = a / c = {a / c:.0f} token-steps, PER_STEP = b / c = {b / c:.2f} token-steps")
    print(f"largest error of the fit: {worst:.0%} of a measured pass")


if __name__ == "__main__":
    main()
