"""The models a worker holds: the one serving, the one served before (kept for a grace period,
so that a rollback is instant), and a shadow candidate; and how a model is loaded and checked
before it may serve.

A request is pinned to the model serving when its texts are queued (`Registry.pin`): all its
texts are scored by that model, in batches of that model only, and the response names its
version, even when a swap completes while the request waits. A model that has stopped serving
stays in memory while requests pinned to it are still queued (they hold it), and is released
after the grace period, or at once on "confirm".

`load_model` is the start-up checks in a form that refuses a candidate instead of stopping the
worker: the artifact's checksums (load_artifact), warm-up on every kind of batch, scores on the
built-in samples that are probabilities, and in bf16 the comparison with fp32, and the
explainer for /explain where the artifact has one. Any failure is ModelRefused, naming the
cause; the model that serves is untouched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service import samples
from service.engine.jobs import ExplanationsUnavailable
from service.settings import Settings

log = logging.getLogger("service.models")


class ModelRefused(Exception):
    """A model that could not be loaded or failed a check; the message names the cause."""


@dataclass(eq=False)
class Loaded:
    """One model, ready to serve: its scorer (the batcher's backend) and its explainer."""

    scorer: Any  # service.engine.scorer.Scorer
    explainer: Any | None  # model.attribution.Explainer, or None with the reason below
    explain_unavailable: str | None
    loaded_at: float = field(default_factory=time.time)

    @property
    def version(self) -> str:
        return str(self.scorer.version)

    @property
    def path(self) -> str:
        return str(self.scorer.path)


def load_model(settings: Settings, parallel: Any, path: Path) -> Loaded:
    """Load the artifact at `path` and run every check on it (seconds: call it on a thread)."""
    from model.artifact import ArtifactError
    from service.engine.scorer import ModelCheckFailed, Scorer

    started = time.perf_counter()
    try:
        scorer = Scorer(settings, parallel, path)
    except (ArtifactError, OSError, ValueError) as exc:
        raise ModelRefused(f"{path} cannot be loaded: {exc}") from exc
    except Exception as exc:  # a program torch cannot load raises RuntimeError and others
        raise ModelRefused(f"{path} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    try:
        scorer.warm_up(settings.warmup_rounds)
        scorer.check()
    except ModelCheckFailed as exc:
        raise ModelRefused(str(exc)) from exc
    except Exception as exc:  # the program fails on a kind of batch the service will send
        raise ModelRefused(
            f"{scorer.version} fails on the built-in samples: {type(exc).__name__}: {exc}"
        ) from exc
    explainer, why_not = make_explainer(settings, scorer)
    log.info("loaded and checked %s in %.1fs", scorer.version, time.perf_counter() - started)
    return Loaded(scorer, explainer, why_not)


def make_explainer(settings: Settings, scorer: Any) -> tuple[Any | None, str | None]:
    """The scorer's explainer, warmed up; or None and why /explain cannot use it."""
    if settings.explain_concurrency == 0:
        return None, "explanations are turned off on this server (SENTIMENT_EXPLAIN_CONCURRENCY=0)"
    from model.attribution import Explainer, supports_explanations

    artifact = scorer.model.artifact
    if not supports_explanations(artifact.program):
        return None, (
            f"the model {artifact.version} was exported without the classify() entry point "
            "that explanations need; serve an artifact exported by this version of the "
            "training code to explain its scores"
        )
    explainer = Explainer(artifact, device=str(scorer.model.device), steps=settings.explain_steps)
    for _ in range(2):  # TorchScript optimises a graph on its first runs with gradients
        explainer.run(explainer.prepare(samples.SHORT[0]))
    return explainer, None


class Registry:
    """The worker's models. Read and changed on the event loop's thread only."""

    def __init__(self, serving: Loaded) -> None:
        self.serving = serving
        self.previous: Loaded | None = None
        self.previous_until = 0.0  # time.monotonic() after which `previous` is released
        self.shadow: Loaded | None = None
        self.shadow_share = 0.0

    def pin(self) -> Any:
        """The batcher's backend for a request queued now: the serving model's scorer."""
        return self.serving.scorer

    def pin_explainer(self) -> Any:
        """The explanation queue's backend for a request queued now."""
        if self.serving.explainer is None:
            raise ExplanationsUnavailable(self.serving.explain_unavailable or "unavailable")
        return self.serving.explainer

    def explain_unavailable(self) -> str | None:
        return self.serving.explain_unavailable

    def promote(self, new: Loaded, grace_s: float) -> None:
        """`new` serves from the next request on; the old one is kept for `grace_s`."""
        self.previous, self.serving = self.serving, new
        self.previous_until = time.monotonic() + grace_s
        if self.shadow is new:
            self.shadow, self.shadow_share = None, 0.0

    def rollback(self) -> bool:
        """The previous model serves again (the current one becomes previous); False if none."""
        if self.previous is None:
            return False
        self.previous, self.serving = self.serving, self.previous
        return True

    def release_previous(self, now: float | None = None) -> Loaded | None:
        """Drop the previous model (at once, or when its grace is over if `now` is given)."""
        if self.previous is None or (now is not None and now < self.previous_until):
            return None
        released, self.previous = self.previous, None
        return released

    def models(self) -> list[Loaded]:
        return [m for m in (self.serving, self.previous, self.shadow) if m is not None]
