"""In-process speed of SentimentModel.predict: texts/s at batch 1 and 64, short and long texts,
in fp32 and (where the CPU has it natively) bf16. The figures in MODEL_CARD.md come from here.

    python -m benchmarks.inprocess [--model DIR] [--threads 2] [--out reports/inprocess.json]
    python -m benchmarks.inprocess --baseline OLD_DIR   # and OLD_DIR, row by row beside it

With --baseline, each row is measured for both artifacts one after the other, and the report
gives the ratio of time per text (model / baseline): side by side, so that the noise of a
shared machine falls on both alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from benchmarks.texts import DEFAULT_IMDB, load_texts
from model import SentimentModel
from model.runtime import cpu_has_native_bf16


def texts_per_second(
    model: SentimentModel, texts: list[str], batch_size: int, rounds: int
) -> float:
    """Median over `rounds` of texts / wall seconds for predict() over all `texts`."""
    model.predict(texts[: batch_size * 2], batch_size=batch_size)  # warm-up
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        model.predict(texts, batch_size=batch_size)
        rates.append(len(texts) / (time.perf_counter() - started))
    return statistics.median(rates)


def measure(
    model_path: Path | None,
    texts: dict[str, list[str]],
    dtypes: list[str],
    rounds: int,
    baseline: Path | None = None,
) -> list[dict]:
    rows = []
    for dtype in dtypes:
        model = SentimentModel.load(model_path, dtype=dtype)
        other = SentimentModel.load(baseline, dtype=dtype) if baseline else None
        for kind, batch_size, count in (
            ("short", 1, 200),
            ("short", 64, 2048),
            ("long", 1, 40),
            ("long", 64, 256),
        ):
            rate = texts_per_second(model, texts[kind][:count], batch_size, rounds)
            row = {"dtype": dtype, "texts": kind, "batch_size": batch_size, "texts_per_s": rate}
            line = f"{dtype:>5} {kind:>5} batch {batch_size:>2}: {rate:8.1f} texts/s"
            if other is not None:
                base = texts_per_second(other, texts[kind][:count], batch_size, rounds)
                row.update(baseline_texts_per_s=base, time_per_text_ratio=base / rate)
                line += f"  baseline {base:8.1f}  time per text x{base / rate:.2f}"
            rows.append(row)
            print(line, flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument(
        "--imdb", type=Path, default=DEFAULT_IMDB, help="IMDB test split (folder or archive)"
    )
    p.add_argument("--baseline", type=Path, help="another artifact to measure beside it")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("reports/inprocess.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    dtypes = ["fp32", "bf16"] if cpu_has_native_bf16() else ["fp32"]
    rows = measure(args.model, load_texts(args.imdb, 2048), dtypes, args.rounds, args.baseline)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model = SentimentModel.load(args.model)
    args.out.write_text(
        json.dumps(
            {
                "model_version": model.version,
                "baseline_version": SentimentModel.load(args.baseline).version
                if args.baseline
                else None,
                "threads": args.threads,
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
