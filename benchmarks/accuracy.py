"""How accurate the bundled model is, as the README quotes it: sentiment-evaluate on the IMDB
test split and on the UCI sentences, the figures recorded in benchmarks/figures.json.

    python -m benchmarks.accuracy               # UCI sentences (seconds) and IMDB test (minutes)
    python -m benchmarks.accuracy --skip-imdb   # the UCI sentences only

Scores are fp32 (exactly reproducible; bf16 moves IMDB test accuracy by at most 0.01 points,
MODEL_CARD.md). Scoring the test split looks at no model that is being chosen: the model is
already bundled. Every figure is the mean or macro over the whole set, as sentiment-evaluate
prints it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import figures

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
IMDB_TEST = DATA / "imdb" / "aclImdb_test.tar.xz"
UCI = DATA / "short" / "uci_sentences.jsonl"
MODEL = "model/bundled/imdb-bilstm"


def evaluate(data: Path, model: str) -> tuple[dict, str]:
    """sentiment-evaluate's JSON on `data`, and the command that gives it."""
    args = ["--model", model, "--data", str(data), "--dtype", "fp32"]
    command = "sentiment-evaluate " + " ".join(args).replace(str(DATA), "../shared/data")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run(
            [sys.executable, "-m", "training.evaluate", *args, "--json", str(out)],
            cwd=ROOT,
            check=True,
        )
        return json.loads(out.read_text()), command


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=MODEL, help="artifact directory (default: the bundled one)")
    p.add_argument("--skip-imdb", action="store_true", help="only the UCI sentences")
    args = p.parse_args()
    uci, command = evaluate(UCI, args.model)
    sources = uci["by_source"]
    figures.record(
        "accuracy.uci_macro",
        round(100 * uci["by_source_macro_accuracy"], 2),
        "%",
        command,
        "UCI sentences (Amazon, IMDB, Yelp; 1,000 each): accuracy, macro over sources",
    )
    figures.record(
        "accuracy.uci_ece",
        # two decimals: #22's limit is 4% per source, and 3.96% printed as 4.0 reads as the limit
        " / ".join(f"{100 * sources[s]['ece']:.2f}" for s in ("amazon", "imdb", "yelp")),
        "%",
        command,
        "UCI sentences: calibration error (ECE) on Amazon / IMDB / Yelp (at most 4% each)",
    )
    if args.skip_imdb:
        return
    imdb, command = evaluate(IMDB_TEST, args.model)
    metrics = imdb["metrics"]
    figures.record(
        "accuracy.imdb_test",
        round(100 * metrics["accuracy"], 2),
        "%",
        command,
        f"IMDB test split (25,000 reviews): accuracy (ROC-AUC {metrics['roc_auc']:.3f}, "
        f"ECE {100 * metrics['ece']:.2f}%)",
    )


if __name__ == "__main__":
    main()
