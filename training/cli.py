"""sentiment-train and sentiment-evaluate: argument parsing around training.run and evaluation."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from model.artifact import ArtifactError
from model.config import POOLINGS, STACKINGS, TRUNCATIONS, ModelConfig, TextConfig
from training.config import PRECISIONS, PretrainConfig, SpanConfig, TrainConfig
from training.data import GROUPINGS
from training.errors import UserError

log = logging.getLogger("training")
_DEFAULT_TRAIN = TrainConfig()
_DEFAULT_TEXT = TextConfig()
_DEFAULT_PRETRAIN = PretrainConfig()
_DEFAULT_SPANS = SpanConfig()
# The ModelConfig fields that have a flag; a flag left out keeps ModelConfig's default.
_NETWORK_FLAGS: dict[str, dict[str, Any]] = {
    "hidden_size": {"type": int},
    "num_layers": {"type": int},
    "stacking": {"choices": STACKINGS},
    "pooling": {"choices": POOLINGS},
    "dropout": {"type": float},
    "embedding_dropout": {"type": float},
    "head_dropout": {"type": float},
}


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sentiment-train", description="Train the BiLSTM and export an artifact."
    )
    p.add_argument(
        "--data",
        type=Path,
        nargs="+",
        required=True,
        help="aclImdb folder or tar archive(s), or CSV/JSONL files with text and label; "
        "with --download, the folder to download into",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="artifact directory to create (must not exist)"
    )
    p.add_argument(
        "--download", action="store_true", help="fetch the official aclImdb_v1.tar.gz into --data"
    )
    p.add_argument(
        "--glove",
        type=Path,
        help="GloVe text file (.txt, .txt.gz, .zip); default: glove.6B.50d package",
    )
    p.add_argument("--glove-member", help="which .txt inside a --glove .zip to read")
    p.add_argument("--checkpoint-dir", type=Path, help="default: <out>.checkpoints")
    p.add_argument(
        "--resume", action="store_true", help="continue the interrupted run in --checkpoint-dir"
    )
    p.add_argument(
        "--limit", type=int, help="train on this many training reviews only (quick runs)"
    )
    p.add_argument(
        "--no-test", action="store_true", help="do not score the test split even if present"
    )
    p.add_argument(
        "--unlabeled",
        type=Path,
        nargs="+",
        default=[],
        help="unlabeled reviews (an aclImdb folder or tar with train/unsup, or CSV/JSONL with "
        "'text'): pretrain the encoder on them as language models first; with --vat, also (with "
        "--pretrained or --init, only) virtual adversarial training on spans of them",
    )
    p.add_argument(
        "--pretrained",
        type=Path,
        help="a checkpoint folder of an earlier run with encoder.pt and vocab.json: fine-tune "
        "that encoder instead of pretraining",
    )
    p.add_argument(
        "--init",
        type=Path,
        metavar="ARTIFACT",
        help="an exported model: train its network further (its vocabulary, shape and weights; "
        "its calibration is fitted again)",
    )
    p.add_argument(
        "--soup",
        type=Path,
        nargs="+",
        default=(),
        metavar="FOLDER",
        help="checkpoint folders of other fine-tunings of the same encoder: after fine-tuning, "
        "average their best weights with this run's (a model soup), then calibrate",
    )
    p.add_argument(
        "--soup-weights",
        type=float,
        nargs="+",
        metavar="W",
        help="one weight per model of the soup, this run's first, then the --soup folders' in "
        "order (scaled to sum to 1); default: equal",
    )
    p.add_argument(
        "--name", help="model name in the version string (default: the --out folder's name)"
    )
    g = p.add_argument_group("training")
    for name in (
        "epochs",
        "batch_size",
        "lr",
        "weight_decay",
        "patience",
        "val_fraction",
        "vocab_size",
        "min_freq",
        "seed",
        "grad_clip",
        "warmup_fraction",
        "encoder_lr_factor",
        "adversarial",
        "vat",
    ):
        default = getattr(_DEFAULT_TRAIN, name)
        g.add_argument(
            f"--{name.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"default {default}",
        )
    g.add_argument(
        "--split-seed",
        type=int,
        help="draws the validation split (and --limit's sample); default: --seed. Fix it to "
        "train several seeds on the same validation reviews, e.g. for --soup",
    )
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default=_DEFAULT_TRAIN.device)
    g.add_argument("--precision", choices=PRECISIONS, default=_DEFAULT_TRAIN.precision)
    g.add_argument("--no-calibrate", action="store_true", help="skip temperature scaling")
    g.add_argument(
        "--one-temperature",
        action="store_true",
        help="one temperature fitted on whole reviews, not one per length band",
    )
    g.add_argument(
        "--val-grouping",
        choices=GROUPINGS,
        default=_DEFAULT_TRAIN.val_grouping,
        help="validation as aclImdb id blocks (a movie's reviews on one side) or random",
    )
    g.add_argument(
        "--rating-softness",
        type=float,
        default=_DEFAULT_TRAIN.rating_softness,
        help="train aclImdb reviews of 4 and 7 stars towards this far from their label (1 and "
        "10 to the label, linearly between); 0: hard labels",
    )
    g.add_argument(
        "--word-dropout",
        type=float,
        default=_DEFAULT_TRAIN.word_dropout,
        help="share of training tokens replaced by <unk>",
    )
    s = p.add_argument_group("short spans of training reviews as extra examples")
    for name in ("rate", "max_tokens", "strength", "teacher", "agreement"):
        default = getattr(_DEFAULT_SPANS, name)
        s.add_argument(
            f"--span-{name.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"default {default}",
        )
    pre = p.add_argument_group("pretraining (with --unlabeled)")
    for name in ("epochs", "batch_size", "lr", "samples", "dropout"):
        default = getattr(_DEFAULT_PRETRAIN, name)
        pre.add_argument(
            f"--pretrain-{name.replace('_', '-')}",
            type=type(default),
            default=default,
            help=f"default {default}",
        )
    n = p.add_argument_group("network (defaults in model.ModelConfig)")
    for name, options in _NETWORK_FLAGS.items():
        n.add_argument(f"--{name.replace('_', '-')}", **options)
    t = p.add_argument_group("text pipeline")
    t.add_argument("--max-tokens", type=int, default=_DEFAULT_TEXT.max_tokens)
    t.add_argument("--truncation", choices=TRUNCATIONS, default=_DEFAULT_TEXT.truncation)
    return p


def evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sentiment-evaluate", description="Score an artifact on a labelled split."
    )
    p.add_argument("--model", type=Path, help="artifact directory (default: the bundled model)")
    p.add_argument("--data", type=Path, nargs="+", required=True, help="as for sentiment-train")
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="fp32")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument(
        "--by-length",
        action="store_true",
        help="also every figure by token count: 1-5, 6-20, 21-100, 101+",
    )
    p.add_argument("--json", type=Path, help="also write the metrics here as JSON")
    return p


def run_train(args: argparse.Namespace) -> None:
    from training.config import RunOptions
    from training.download import download_imdb
    from training.run import train

    sources = list(args.data)
    if args.download:
        if len(sources) != 1:
            raise UserError("--download takes one --data folder to download into")
        sources = [download_imdb(sources[0])]
    network = {k: getattr(args, k) for k in _NETWORK_FLAGS if getattr(args, k) is not None}
    if args.pretrained and args.init:
        raise UserError("--pretrained and --init are two starting points: pick one")
    start = "--pretrained" if args.pretrained else "--init" if args.init else None
    if args.unlabeled and start and not args.vat:
        raise UserError(f"--unlabeled pretrains an encoder and {start} gives one: pick one")
    if args.vat and not args.unlabeled:
        raise UserError("--vat trains on unlabeled texts: pass them with --unlabeled")
    if args.init and network:
        raise UserError("--init takes the exported model's network: network flags do not apply")
    # Every TrainConfig field that has a flag; the calibration flags are negated.
    chosen = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    spans = SpanConfig(
        rate=args.span_rate,
        max_tokens=args.span_max_tokens,
        strength=args.span_strength,
        teacher=args.span_teacher,
        agreement=args.span_agreement,
    )
    cfg = TrainConfig(
        **chosen,
        spans=spans,
        calibrate=not args.no_calibrate,
        calibrate_by_length=not args.one_temperature,
    )
    pretrain = PretrainConfig(
        **{
            name: getattr(args, f"pretrain_{name}")
            for name in ("epochs", "batch_size", "lr", "samples", "dropout")
        },
        seed=args.seed,
        device=args.device,
        precision=args.precision,
    )
    try:
        text = TextConfig(max_tokens=args.max_tokens, truncation=args.truncation)
        ModelConfig(vocab_size=2, **network)  # the network flags, checked before any data is read
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    check_precision(cfg.device, cfg.precision)
    opts = RunOptions(
        sources=sources,
        out=args.out,
        checkpoint_dir=args.checkpoint_dir,
        glove=args.glove,
        glove_member=args.glove_member,
        resume=args.resume,
        limit=args.limit,
        evaluate_test=not args.no_test,
        name=args.name,
        network=network,
        unlabeled=args.unlabeled,
        pretrained=args.pretrained,
        init=args.init,
        pretrain=pretrain,
        soup=args.soup,
        soup_weights=args.soup_weights,
    )
    train(opts, text, cfg)


def check_precision(device: str, precision: str) -> None:
    """Refuse a device or precision this machine cannot run, before any data is read."""
    from model.runtime import resolve_device
    from training.config import training_precision

    try:
        training_precision(precision, resolve_device(device))
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def run_evaluate(args: argparse.Namespace) -> None:
    import numpy as np

    from model.api import SentimentModel
    from training.data import load_split
    from training.evaluate import format_report, report
    from training.metrics import format_table

    try:
        model = SentimentModel.load(args.model, device=args.device, dtype=args.dtype)
    except ValueError as exc:  # a device or precision this machine cannot run
        raise UserError(f"--device {args.device} --dtype {args.dtype}: {exc}") from exc
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
    if args.json:
        saved = {
            "model_version": model.version,
            "split": args.split,
            "device": str(model.device),
            "dtype": model.dtype,
            "seconds": seconds,
            **result,
        }
        args.json.write_text(json.dumps(saved, indent=2) + "\n")


def _main(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], None],
    argv: Sequence[str] | None,
) -> int:
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        run(args)
    except (UserError, ArtifactError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"{parser.prog}: interrupted; continue with the same command and --resume",
            file=sys.stderr,
        )
        return 130
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    return _main(train_parser(), run_train, argv)


def evaluate_main(argv: Sequence[str] | None = None) -> int:
    return _main(evaluate_parser(), run_evaluate, argv)
