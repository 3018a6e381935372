"""Token attributions by Integrated Gradients on the embeddings (Sundararajan et al. 2017).

For a text whose embedded tokens are x ([steps, emb]) and the baseline x' = 0 (every token the
<pad> vector, which is zero: "the same number of tokens, none of them a word"), the attribution
of token t is

    IG_t = sum_e (x - x')[t, e] * integral_0^1 dF(x' + a (x - x'))/dx[t, e] da

where F is the network's calibrated logit, `classify(embedded, lengths)` in the TorchScript
program. The integral is taken with Gauss-Legendre quadrature over `steps` points, which is
Captum's default method for `IntegratedGradients` (tests/model/test_explain.py compares the two).
Completeness: sum_t IG_t = F(x) - F(x'), up to the quadrature error, which each Explanation
reports as `delta`. Where it exceeds the tolerance, the path is refined where the error is (see
REFINE_POINTS).

The calibration temperature depends only on the token count, which is the same all along the
path, so the attributions are to the calibrated logit that /predict turns into its score.

Explanations always run in fp32 (gradients in bf16 are too coarse for the completeness check).
Artifacts exported before `classify` existed cannot be explained: `supports_explanations()`
says so and the service answers 501 for them. Each Explainer holds its own TextPipeline, which
is not thread-safe: call `prepare` from one thread. `run` may be called from several at once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from model.artifact import Artifact
from model.runtime import resolve_device
from model.text import Reading, TextPipeline

# Interpolated texts per forward/backward pass are capped so that a pass holds at most this many
# token positions: the backward pass keeps every LSTM activation, about 24 KB per position for
# the bundled network (hidden 256, 2 layers, 2 directions), so 4,096 positions cost ~100 MB. A
# short review runs all its steps in one pass; an 800-token one in passes of 5.
MAX_POSITIONS_PER_PASS = 4096
# The completeness check: |delta| <= ATOL + RTOL * |F(x) - F(x')|, as numpy.isclose states it.
# 0.05 in logit is at most 1.25 points of probability. On 12 short and 12 long IMDB test reviews,
# the bundled network (re-scripted with classify() for the check) stayed within 0.02 at 32 steps,
# under 1/3 of 1% of |F(x) - F(x')|; the tiny test networks, trained to be sharp in a few
# seconds, need more steps for some texts.
COMPLETENESS_ATOL = 0.05
COMPLETENESS_RTOL = 0.01
# When the check fails, the path is refined where the error is: the segment whose attributions
# disagree most with F(end) - F(start) is halved and each half integrated with REFINE_POINTS
# points, until the check passes or REFINE_BUDGET x steps gradients are spent. A long text can
# cross a near-jump on the path (an LSTM over hundreds of tokens switching between two regimes
# within 1% of the path), which no fixed number of evenly spread points integrates; halving finds
# it in a few rounds. Whatever is left is reported as the delta, never hidden.
REFINE_POINTS = 8
REFINE_BUDGET = 8


def completeness_tolerance(difference: float) -> float:
    """How far the attributions may sum from F(x) - F(x') = `difference`."""
    return COMPLETENESS_ATOL + COMPLETENESS_RTOL * abs(difference)


def supports_explanations(program: torch.jit.ScriptModule) -> bool:
    """True when the program exports `classify(embedded, lengths)` and has an `embedding`."""
    return hasattr(program, "classify") and hasattr(program, "embedding")


@functools.lru_cache(maxsize=8)
def quadrature(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre points in (0, 1) and their weights (summing to 1), as Captum's
    `gausslegendre` method takes them. Cached: 1,024 points take seconds to find."""
    if steps < 1:
        raise ValueError(f"Integrated Gradients needs at least one step, got {steps}")
    points, weights = np.polynomial.legendre.leggauss(steps)
    return (points + 1) / 2, weights / 2


class Segment(NamedTuple):
    """A piece [a, b] of the path, integrated."""

    a: float
    b: float
    fa: float  # F at a
    fb: float  # F at b
    attributions: torch.Tensor  # [steps]
    error: float  # their sum - (F(b) - F(a))


@dataclass(frozen=True)
class Prepared:
    """One text, read: what the network will see and where each token stands in the text."""

    reading: Reading
    ids: list[int]

    def __len__(self) -> int:  # the tokens the network reads (the queue checks the limit)
        return len(self.ids)


@dataclass(frozen=True)
class Explanation:
    tokens: list[str]  # as the network reads them (normalised, lower case); "" for no token
    spans: list[tuple[int, int]]  # [start, end) in the submitted text, in code points
    unknown: list[bool]  # the vocabulary does not know the token (it reads <unk>)
    attributions: list[float]  # to the calibrated logit, one per token
    logit: float  # F(x): the calibrated logit of the text
    baseline_logit: float  # F(x'): the same number of <pad> embeddings
    skipped: tuple[int, int] | None  # characters the truncation cut out (not read)
    steps: int  # Gauss-Legendre points over the whole path
    evaluations: int  # gradients taken, refinement included

    @property
    def score(self) -> float:
        return 1.0 / (1.0 + math.exp(-self.logit))

    @property
    def delta(self) -> float:
        """The completeness error: sum of attributions - (F(x) - F(x'))."""
        return math.fsum(self.attributions) - (self.logit - self.baseline_logit)

    @property
    def tolerance(self) -> float:
        return completeness_tolerance(self.logit - self.baseline_logit)


class Explainer:
    """Integrated Gradients for one artifact, on `device`, in fp32."""

    def __init__(
        self,
        artifact: Artifact,
        device: str = "cpu",
        steps: int = 32,
        max_evaluations: int | None = None,
    ) -> None:
        self.artifact = artifact
        self.device = resolve_device(device)
        self.steps = steps
        self.max_evaluations = REFINE_BUDGET * steps if max_evaluations is None else max_evaluations
        quadrature(steps)  # fails early on a bad number of steps
        self.pipeline = TextPipeline(artifact.text_config, artifact.vocab)
        self.program = artifact.program.to(self.device)
        self.program.eval()
        for parameter in self.program.parameters():  # gradients flow to the inputs only
            parameter.requires_grad_(False)
        self.supported = supports_explanations(self.program)

    @property
    def version(self) -> str:
        return self.artifact.version

    def prepare(self, text: str) -> Prepared:
        reading = self.pipeline.read(text)
        return Prepared(reading, self.artifact.vocab.encode(reading.tokens))

    def run(self, prepared: Prepared) -> Explanation:
        if not self.supported:
            raise RuntimeError(f"{self.version} has no classify() entry point to explain with")
        reading, ids = prepared.reading, prepared.ids
        attributions, logit, baseline_logit, evaluations = self._integrated_gradients(ids)
        unk = self.artifact.vocab.unk_index
        tokens, spans = reading.tokens, reading.spans
        if not tokens:  # nothing to read: the network reads one <unk> (Vocab.encode)
            tokens, spans = [""], [(0, 0)]
        return Explanation(
            tokens=list(tokens),
            spans=list(spans),
            unknown=[i == unk for i in ids],
            attributions=attributions,
            logit=logit,
            baseline_logit=baseline_logit,
            skipped=reading.skipped,
            steps=self.steps,
            evaluations=evaluations,
        )

    def explain(self, text: str) -> Explanation:
        return self.run(self.prepare(text))

    def _integrated_gradients(self, ids: list[int]) -> tuple[list[float], float, float, int]:
        with torch.no_grad():
            tokens = torch.tensor([ids], dtype=torch.int64, device=self.device)  # [1, steps]
            embedded = self.program.embedding(tokens).float()  # [1, steps, emb]
        ends = self._values(embedded, [0.0, 1.0])
        total = ends[1] - ends[0]
        tolerance = completeness_tolerance(total)
        whole = self._segment(embedded, 0.0, 1.0, ends[0], ends[1], self.steps)
        segments = [whole]
        evaluations = self.steps
        while evaluations + 2 * REFINE_POINTS <= self.max_evaluations:
            if abs(math.fsum(segment.error for segment in segments)) <= tolerance:
                break
            worst = max(range(len(segments)), key=lambda i: abs(segments[i].error))
            a, b, fa, fb, _, _ = segments.pop(worst)
            middle = (a + b) / 2
            (fm,) = self._values(embedded, [middle])
            segments.append(self._segment(embedded, a, middle, fa, fm, REFINE_POINTS))
            segments.append(self._segment(embedded, middle, b, fm, fb, REFINE_POINTS))
            evaluations += 2 * REFINE_POINTS
        attributions = torch.stack([segment.attributions for segment in segments]).sum(dim=0)
        return attributions.double().cpu().tolist(), ends[1], ends[0], evaluations

    def _values(self, embedded: torch.Tensor, alphas: list[float]) -> list[float]:
        """F on the path at each alpha."""
        with torch.no_grad():
            path = torch.tensor(alphas, device=self.device).view(-1, 1, 1) * embedded
            lengths = torch.full((len(alphas),), embedded.size(1), device=self.device)
            return [float(v) for v in self.program.classify(path, lengths).tolist()]

    def _segment(
        self, embedded: torch.Tensor, a: float, b: float, fa: float, fb: float, points: int
    ) -> Segment:
        """Gauss-Legendre attributions over [a, b] of the path, and their error against
        F(b) - F(a)."""
        unit_points, unit_weights = quadrature(points)
        steps = embedded.size(1)
        per_pass = max(1, MAX_POSITIONS_PER_PASS // steps)
        gradient_sum = torch.zeros_like(embedded[0])  # [steps, emb]
        with torch.enable_grad():
            for start in range(0, points, per_pass):
                alphas = a + (b - a) * unit_points[start : start + per_pass]
                weights = (b - a) * unit_weights[start : start + per_pass]
                alphas_t = torch.tensor(alphas, dtype=torch.float32, device=self.device)
                weights_t = torch.tensor(weights, dtype=torch.float32, device=self.device)
                # path: [k, steps, emb], texts between the baseline (zero) and the text itself
                path = alphas_t.view(-1, 1, 1) * embedded
                path.requires_grad_(True)
                lengths = torch.full((path.size(0),), steps, dtype=torch.int64, device=self.device)
                logits = self.program.classify(path, lengths)  # [k]
                (grads,) = torch.autograd.grad(logits.sum(), path)  # [k, steps, emb]
                gradient_sum += (weights_t.view(-1, 1, 1) * grads).sum(dim=0)
        attributions = (embedded[0] * gradient_sum).sum(dim=1)  # [steps]
        error = float(attributions.double().sum()) - (fb - fa)
        return Segment(a, b, fa, fb, attributions, error)
