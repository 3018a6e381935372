"""sentiment-evaluate: an artifact's figures on any labelled texts, by source and by length.

The command scores the texts of one split of `--data` with an artifact, as the service would
(model.SentimentModel), and prints what training/report.py makes of the scores; `--json` saves
it too. Its flags are built without torch, so --help answers at once; `python -m
training.evaluate` is the same command.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from training.command import parser, run_command
from training.config import DEVICES, PRECISIONS
from training.errors import UserError

log = logging.getLogger("training")


def evaluate_parser() -> argparse.ArgumentParser:
    p = parser("sentiment-evaluate", "Score an artifact on a labelled split.")
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument("--data", type=Path, nargs="+", help="as for sentiment-train")
    p.add_argument(
        "--behaviour",
        action="store_true",
        help="run the behavioural suite (training/behaviour.py): failure rate per test, with "
        "failing examples; with or without --data",
    )
    p.add_argument("--split", choices=("train", "test"), default="test", help="split of --data")
    p.add_argument("--device", choices=DEVICES, default="cpu", help="where to score")
    p.add_argument("--dtype", choices=PRECISIONS, default="fp32", help="precision to score in")
    p.add_argument("--batch-size", type=int, default=64, help="texts per batch")
    p.add_argument(
        "--by-length",
        action="store_true",
        help="also every figure by token count: 1-5, 6-20, 21-100, 101+",
    )
    p.add_argument("--json", type=Path, help="also write the metrics here as JSON")
    return p


def run_evaluate(args: argparse.Namespace) -> None:
    from model.api import SentimentModel

    if not args.data and not args.behaviour:
        raise UserError("give --data to score, --behaviour for the behavioural suite, or both")
    try:
        model = SentimentModel.load(args.model, device=args.device, dtype=args.dtype)
    except ValueError as exc:  # a device or precision this machine cannot run
        raise UserError(f"--device {args.device} --dtype {args.dtype}: {exc}") from exc
    saved: dict = {
        "model_version": model.version,
        "device": str(model.device),
        "dtype": model.dtype,
    }
    if args.behaviour:
        saved["behaviour"] = run_behaviour(model, args.batch_size)
    if args.data:
        saved.update(score_data(model, args))
    if args.json:
        args.json.write_text(json.dumps(saved, indent=2) + "\n")


def run_behaviour(model: object, batch_size: int) -> dict:
    """The behavioural suite on `model`: printed, and returned for --json."""
    from training import behaviour

    results = behaviour.run(
        behaviour.suite(), lambda texts: model.predict(texts, batch_size=batch_size)
    )
    print(behaviour.format_results(results))
    return {"macro_failure_rate": behaviour.macro_failure_rate(results), "tests": results}


def score_data(model: object, args: argparse.Namespace) -> dict:
    """The figures of --data's split: printed, and returned for --json."""
    import numpy as np

    from training.data import load_split
    from training.metrics import format_table
    from training.report import format_report, report

    reviews = load_split(args.data, args.split)
    log.info(
        "scoring %d %s texts with %s (%s, %s)",
        len(reviews),
        args.split,
        model.version,
        model.device,
        model.dtype,
    )
    texts = [r.text for r in reviews]
    started = time.perf_counter()
    probs = np.array(model.predict(texts, batch_size=args.batch_size))
    seconds = time.perf_counter() - started
    lengths = np.array([len(t) for t in model.pipeline.tokens_many(texts)])
    labels = np.array([r.label for r in reviews])
    result = report(labels, probs, lengths, [r.group for r in reviews], args.by_length)
    print(format_table({args.split: result["metrics"]}))
    print(format_report(result))
    print(f"\n{len(reviews):,} texts in {seconds:.1f}s ({len(reviews) / seconds:,.0f} texts/s)")
    return {"split": args.split, "seconds": seconds, **result}


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    return run_command(evaluate_parser(), run_evaluate, argv)


if __name__ == "__main__":
    sys.exit(evaluate_main())
