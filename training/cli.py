"""sentiment-train: the flags, each with the default that applies, and the settings they make.

The console scripts' entry points live here (pyproject.toml names training.cli:train_main and
training.cli:evaluate_main; sentiment-evaluate's own flags are in training/evaluate.py). Every
flag's default comes from the dataclass that holds the setting (training.config, and
model.config for the network and the text pipeline), so --help shows what applies. Nothing
heavier than those is imported until the command runs: run_train() builds the settings, refuses
what this machine or the combination of flags cannot do before any data is read, and hands
over to training.run.train().
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from model.config import POOLINGS, STACKINGS, TRUNCATIONS, ModelConfig, TextConfig
from training.command import parser, run_command
from training.config import (
    DEVICES,
    GROUPINGS,
    PRECISIONS,
    PretrainConfig,
    RunOptions,
    SpanConfig,
    TrainConfig,
)
from training.errors import UserError
from training.evaluate import evaluate_main

__all__ = ["evaluate_main", "train_main", "train_parser"]

_TRAIN = TrainConfig()
_TEXT = TextConfig()
_PRETRAIN = PretrainConfig()
_SPANS = SpanConfig()
_NETWORK = {f.name: f.default for f in fields(ModelConfig)}
# The TrainConfig fields with a flag of their own name, and what each does.
_TRAINING_FLAGS = {
    "epochs": "epochs at most; the learning rate reaches zero at the last",
    "batch_size": "reviews per step",
    "lr": "AdamW's peak learning rate (the head's)",
    "weight_decay": "AdamW's decoupled weight decay, not on biases or the embedding",
    "patience": "epochs without a better validation accuracy before stopping",
    "val_fraction": "share of the training reviews held out for validation",
    "vocab_size": "largest vocabulary, counting <pad> and <unk>",
    "min_freq": "fewest training occurrences of a word in the vocabulary",
    "seed": "seeds every random draw: the same command gives the same weights",
    "grad_clip": "largest global gradient norm",
    "warmup_fraction": "share of all steps spent warming up the learning rate",
    "encoder_lr_factor": "learning rate of the embedding and LSTMs as a share of the head's",
    "adversarial": "adversarial training: push the embedded words by this many mean word-vector "
    "norms along the loss gradient; 0: off",
    "vat": "virtual adversarial training on spans of --unlabeled texts, pushed as for "
    "--adversarial; 0: off",
}
_SPAN_FLAGS = {
    "rate": "spans per training review per epoch; 0: none",
    "max_tokens": "longest span, in tokens",
    "strength": "how much of its review's label a one-token span keeps (all of it at "
    "--span-max-tokens)",
    "teacher": "an exported model that keeps only the spans it is sure carry their review's "
    "label (default: none, every span is kept)",
    "agreement": "with --span-teacher: how sure of the review's label a kept span is",
}
_PRETRAIN_FLAGS = {
    "epochs": "pretraining epochs",
    "batch_size": "texts per pretraining step",
    "lr": "pretraining's AdamW peak learning rate",
    "samples": "words drawn per batch for the sampled softmax",
    "dropout": "dropout on the embeddings and between the layers while pretraining",
}
# The ModelConfig fields with a flag; a flag left out keeps ModelConfig's default.
_NETWORK_FLAGS: dict[str, dict[str, Any]] = {
    "hidden_size": {"type": int, "help": "hidden units per direction"},
    "num_layers": {"type": int, "help": "LSTM layers per direction"},
    "stacking": {
        "choices": STACKINGS,
        "help": "separate forward and backward stacks (which "
        "can be pretrained), or layers that read both directions",
    },
    "pooling": {"choices": POOLINGS, "help": "pooling of the top states over time"},
    "dropout": {"type": float, "help": "locked dropout between the LSTM layers"},
    "embedding_dropout": {"type": float, "help": "locked dropout on the embedded words"},
    "head_dropout": {"type": float, "help": "dropout on the pooled features"},
}


def train_parser() -> argparse.ArgumentParser:
    p = parser("sentiment-train", "Train the BiLSTM and export an artifact.")
    add_run_flags(p)
    g = p.add_argument_group("training")
    for name, help in _TRAINING_FLAGS.items():
        add_setting(g, f"--{name.replace('_', '-')}", getattr(_TRAIN, name), help)
    g.add_argument(
        "--split-seed",
        type=int,
        help="draws the validation split (and --limit's sample); default: --seed. Fix it to "
        "train several seeds on the same validation reviews, e.g. for --soup",
    )
    g.add_argument("--device", choices=DEVICES, default=_TRAIN.device, help="where to train")
    g.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=_TRAIN.precision,
        help="auto: bf16 where it is native (GPUs, CPUs with AVX512-BF16 or AMX), else fp32 "
        "(fp16 on GPUs without bf16)",
    )
    g.add_argument("--no-calibrate", action="store_true", help="skip temperature scaling")
    g.add_argument(
        "--one-temperature",
        action="store_true",
        help="one temperature fitted on whole reviews, not one per length band",
    )
    g.add_argument(
        "--val-grouping",
        choices=GROUPINGS,
        default=_TRAIN.val_grouping,
        help="validation as aclImdb id blocks (a movie's reviews on one side) or random; "
        "auto: blocks where every review has an aclImdb id",
    )
    add_setting(
        g,
        "--rating-softness",
        _TRAIN.rating_softness,
        "train aclImdb reviews of 4 and 7 stars towards this far from their label (1 and "
        "10 to the label, linearly between); 0: hard labels",
    )
    add_setting(
        g, "--word-dropout", _TRAIN.word_dropout, "share of training tokens replaced by <unk>"
    )
    ph = p.add_argument_group("phrases of a sentiment treebank as extra examples")
    ph.add_argument(
        "--phrases",
        type=Path,
        help="a Stanford Sentiment Treebank file (../shared/data/sst/train.txt) whose labelled "
        "phrases train beside the reviews (default: none)",
    )
    add_setting(
        ph,
        "--phrase-rate",
        _TRAIN.phrase_rate,
        "phrases per epoch, as a share of the training reviews, drawn afresh each epoch",
    )
    ph.add_argument(
        "--phrase-neutral",
        action="store_true",
        help="keep neutral phrases: every phrase trains towards 0, 0.25, 0.5, 0.75 or 1 for its "
        "label 0-4 (default: neutral ones dropped, the rest 0 or 1)",
    )
    ph.add_argument(
        "--phrase-compose",
        action="store_true",
        help="add phrases composed from the file's own: its predicates negated "
        "(training/compose.py) (default: the file's phrases alone)",
    )
    add_setting(
        ph,
        "--phrase-contrasts",
        _TRAIN.phrase_contrasts,
        "with --phrase-compose, this many pairs of the file's sentences joined in contrasts "
        "(A, but B) as well",
    )
    add_setting(
        ph,
        "--phrase-turns",
        _TRAIN.phrase_turns,
        'each phrase whose label turns that of a phrase right below it ("never boring", '
        '"isn\'t funny") this many times among the phrases',
    )
    add_setting(
        ph,
        "--phrase-negations",
        _TRAIN.phrase_negations,
        'each turn that a negation makes ("is never dull", "isn\'t funny") this many times '
        "among the phrases (on top of --phrase-turns)",
    )
    ph.add_argument(
        "--phrase-dev",
        type=Path,
        help="a treebank file (../shared/data/sst/dev.txt) whose sentences are scored after "
        "every epoch; the epoch kept is the best on the mean of their accuracy and the "
        "validation accuracy (default: none, validation alone)",
    )
    s = p.add_argument_group("short spans of training reviews as extra examples")
    for name, help in _SPAN_FLAGS.items():
        add_setting(s, f"--span-{name.replace('_', '-')}", getattr(_SPANS, name), help)
    pre = p.add_argument_group("pretraining (with --unlabeled)")
    for name, help in _PRETRAIN_FLAGS.items():
        add_setting(pre, f"--pretrain-{name.replace('_', '-')}", getattr(_PRETRAIN, name), help)
    n = p.add_argument_group("network (defaults in model.ModelConfig)")
    for name, options in _NETWORK_FLAGS.items():
        help = f"{options['help']} (default: {_NETWORK[name]})"
        n.add_argument(f"--{name.replace('_', '-')}", **{**options, "help": help})
    t = p.add_argument_group("text pipeline")
    t.add_argument(
        "--max-tokens", type=int, default=_TEXT.max_tokens, help="tokens read of each text"
    )
    t.add_argument(
        "--truncation",
        choices=TRUNCATIONS,
        default=_TEXT.truncation,
        help="what a longer text keeps: its head, or its head and its tail",
    )
    return p


def add_setting(group: argparse._ArgumentGroup, flag: str, default: object, help: str) -> None:
    """A flag whose type and default are those of the setting it sets."""
    group.add_argument(flag, type=type(default), default=default, help=help)


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags of RunOptions: data, output, starting points, soup."""
    p.add_argument(
        "--recipe",
        type=Path,
        help="run every stage of a recipe file (recipes/*.toml) that is not done yet, instead "
        "of one run; --device and --precision apply to every stage",
    )
    p.add_argument(
        "--work", type=Path, help="with --recipe: where its stages go (default: runs/<name>)"
    )
    p.add_argument(
        "--data",
        type=Path,
        nargs="+",
        help="aclImdb folder or tar archive(s), or CSV/JSONL files with text and label; "
        "with --download, the folder to download into (needed without --recipe)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="artifact directory to create, which must not exist (needed without --recipe)",
    )
    p.add_argument(
        "--download", action="store_true", help="fetch the official aclImdb_v1.tar.gz into --data"
    )
    p.add_argument(
        "--glove",
        type=Path,
        help="GloVe text file (.txt, .txt.gz, .zip); default: glove.6B.50d package",
    )
    p.add_argument(
        "--glove-member",
        help="which .txt inside a --glove .zip to read; default: its only one",
    )
    p.add_argument("--checkpoint-dir", type=Path, help="default: <out>.checkpoints")
    p.add_argument(
        "--resume", action="store_true", help="continue the interrupted run in --checkpoint-dir"
    )
    p.add_argument(
        "--limit",
        type=int,
        help="train on this many training reviews only (quick runs); default: all",
    )
    p.add_argument(
        "--train-limit",
        type=int,
        help="train on this many training reviews, drawn after the validation split, which stays "
        "that of a full run (quick runs on the same validation reviews); default: all",
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


def run_train(args: argparse.Namespace) -> None:
    from training.download import download_imdb
    from training.run import train

    if args.recipe is not None:
        run_recipe(args)
        return
    if not args.data or not args.out:
        raise UserError("give --data and --out for a run, or --recipe FILE for a whole recipe")
    sources = list(args.data)
    if args.download:
        if len(sources) != 1:
            raise UserError("--download takes one --data folder to download into")
        sources = [download_imdb(sources[0])]
    network = {k: getattr(args, k) for k in _NETWORK_FLAGS if getattr(args, k) is not None}
    check_combination(args, network)
    cfg = train_config(args)
    pretrain = PretrainConfig(
        **{name: getattr(args, f"pretrain_{name}") for name in _PRETRAIN_FLAGS},
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
        phrases=args.phrases,
        phrase_dev=args.phrase_dev,
        train_limit=args.train_limit,
    )
    train(opts, text, cfg)


def check_combination(args: argparse.Namespace, network: dict[str, Any]) -> None:
    """Refuse flags that contradict each other."""
    if args.pretrained and args.init:
        raise UserError("--pretrained and --init are two starting points: pick one")
    start = "--pretrained" if args.pretrained else "--init" if args.init else None
    if args.unlabeled and start and not args.vat:
        raise UserError(f"--unlabeled pretrains an encoder and {start} gives one: pick one")
    if args.vat and not args.unlabeled:
        raise UserError("--vat trains on unlabeled texts: pass them with --unlabeled")
    if args.init and network:
        raise UserError("--init takes the exported model's network: network flags do not apply")
    if bool(args.phrases) != (args.phrase_rate > 0):
        raise UserError("--phrases and --phrase-rate go together: the file, and how many per epoch")
    if args.phrase_compose and not args.phrases:
        raise UserError("--phrase-compose composes from the --phrases file: pass one")
    if args.phrase_turns != 1 and not args.phrases:
        raise UserError("--phrase-turns weighs the --phrases file's phrases: pass one")
    if args.phrase_negations != 1 and not args.phrases:
        raise UserError("--phrase-negations weighs the --phrases file's phrases: pass one")
    if args.phrase_contrasts and not args.phrase_compose:
        raise UserError("--phrase-contrasts is part of --phrase-compose: pass both")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """Every TrainConfig field that has a flag; the calibration flags are negated."""
    chosen = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    spans = SpanConfig(**{name: getattr(args, f"span_{name}") for name in _SPAN_FLAGS})
    return TrainConfig(
        **chosen,
        spans=spans,
        calibrate=not args.no_calibrate,
        calibrate_by_length=not args.one_temperature,
    )


def check_precision(device: str, precision: str) -> None:
    """Refuse a device or precision this machine cannot run, before any data is read."""
    from model.runtime import resolve_device
    from training.config import training_precision

    try:
        training_precision(precision, resolve_device(device))
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def run_recipe(args: argparse.Namespace) -> None:
    """Every stage of the recipe that is not done yet. Beside it: --work, --out (the final
    artifact, instead of the recipe's `out`), and --device and --precision (every stage)."""
    from training import recipe

    extra = []
    if args.device != _TRAIN.device:
        extra += ["--device", args.device]
    if args.precision != _TRAIN.precision:
        extra += ["--precision", args.precision]
    out = recipe.run(args.recipe, args.work, extra, train_main, final=args.out)
    logging.getLogger("training").info("recipe %s: %s", args.recipe, out)


def train_main(argv: Sequence[str] | None = None) -> int:
    return run_command(train_parser(), run_train, argv)
