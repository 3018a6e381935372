"""Changing the model of a running service, on every worker, without dropping a request.

Each worker runs a Swapper. Its watch task reads the shared desired state (service.engine.control)
whenever it changes and applies it to the worker's Registry: a new serving artifact is loaded and
checked on a loader thread of its own (at a lower CPU priority, one worker at a time) while the
old model keeps serving, and only then do new requests go to it; a rollback to the model kept
from before, or the promotion of the shadow candidate, is instant. Each worker reports what it
applied, and the error if it could not.

An admin call is carried out by the worker that received it (`change`): it takes the change lock
(one change at a time, across workers), writes the new desired state, and waits until every
worker has applied it. If any worker could not (a corrupt artifact, a failed check), it asks for
the state from before, which every worker applies at once (the old model is still loaded), and
the call fails with that worker's reason. So a change is all or nothing, and when the call
returns, every worker serves what it says.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from service import metrics
from service.engine.control import ChangeInProgress, Desired, ModelControl, WorkerStatus
from service.engine.models import Loaded, ModelRefused, Registry, load_model
from service.engine.native import release_memory
from service.settings import Settings

log = logging.getLogger("service.swapper")
POLL_S = 0.1  # how often a worker looks for a new desired state (a stat() call)


class NothingToChange(Exception):
    """A rollback without a previous model, or a promotion without a candidate: answer 409."""


def fingerprint(key: str) -> str:
    """Who asked, for the logs and the status: a key's hash, never the key."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]


class Swapper:
    def __init__(
        self,
        settings: Settings,
        parallel: Any,
        control: ModelControl,
        models: Registry,
        ready: Callable[[], bool],
    ) -> None:
        self.settings, self.parallel = settings, parallel
        self.control, self.models = control, models
        self._ready = ready
        self.applied = -1  # the generation of desired state this worker has applied
        self.released = 0
        self.error: str | None = None
        self.loading = False
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="loader", initializer=_init_loader)
        self._task: asyncio.Task[None] | None = None

    # -- this worker ---------------------------------------------------------------------

    def start(self) -> None:
        self.report()
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="swapper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.control.forget(os.getpid())
        self.control.close()
        self._loader.shutdown(wait=False, cancel_futures=True)

    def report(self) -> None:
        m = self.models
        status = WorkerStatus(
            pid=os.getpid(),
            generation=self.applied,
            serving=m.serving.version,
            serving_path=m.serving.path,
            previous=m.previous.version if m.previous else None,
            shadow=m.shadow.version if m.shadow else None,
            loading=self.loading,
            ready=self._ready(),
            error=self.error,
        )
        self.control.report(status)
        metrics.MODEL_VERSIONS.set(len({s.serving for s in self.control.statuses()}))

    async def _watch(self) -> None:
        seen = None
        while True:
            stamp = self.control.changed_at()
            if stamp != seen:
                seen = stamp
                desired = self.control.desired()
                if desired is not None and desired.generation != self.applied:
                    await self.apply(desired)
            if self.models.release_previous(now=time.monotonic()) is not None:
                log.info("released the previous model: its grace period is over")
                release_memory()
                self.report()
            await asyncio.sleep(POLL_S)

    async def apply(self, desired: Desired) -> None:
        """Make this worker serve what `desired` says; on failure keep serving what it does."""
        try:
            if desired.serving != self.models.serving.path:
                await self._serve(desired.serving)
            if desired.release > self.released:
                self.released = desired.release
                if self.models.release_previous() is not None:
                    release_memory()
            await self._shadow(desired.shadow, desired.shadow_share)
            self.error = None
        except ModelRefused as exc:
            self.error = str(exc)
            log.error("could not apply model change %d: %s", desired.generation, exc)
        self.applied = desired.generation
        self.report()

    async def _serve(self, path: str) -> None:
        m, before = self.models, self.models.serving
        if m.previous is not None and m.previous.path == path:
            m.rollback()
        elif m.shadow is not None and m.shadow.path == path:
            m.promote(m.shadow, self.settings.swap_grace_s)
        else:
            m.promote(await self._load(path), self.settings.swap_grace_s)
        _serving_changed(before, m.serving)
        log.info("serving %s (was %s)", m.serving.version, before.version)

    async def _shadow(self, path: str | None, share: float) -> None:
        m = self.models
        if path is None:
            if m.shadow is not None:
                m.shadow, m.shadow_share = None, 0.0
                release_memory()
            return
        if m.shadow is None or m.shadow.path != path:
            if path == m.serving.path:
                raise ModelRefused(f"{path} is the serving model; a shadow must be another")
            m.shadow = await self._load(path)
        m.shadow_share = share

    async def _load(self, path: str) -> Loaded:
        self.loading = True
        self.report()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._loader, self._load_in_turn, Path(path))
        finally:
            self.loading = False

    def _load_in_turn(self, path: Path) -> Loaded:
        with self.control.load_lock():  # one worker loads at a time
            return load_model(self.settings, self.parallel, path)

    # -- admin calls, on the worker that received them ---------------------------------------

    async def change(self, action: str, who: str, **asked: Any) -> dict[str, Any]:
        """Carry out one change on every worker, or none; the outcome per worker."""
        started = time.perf_counter()
        try:
            with self.control.change_lock():
                before = self.control.desired() or self._launched()
                wanted = self._wanted(action, before, asked)
                asking = replace(wanted, generation=before.generation + 1, changed_by=who)
                statuses = await self._everywhere(asking)
                failed = [s for s in statuses if s.error]
                if failed:
                    back = replace(before, generation=before.generation + 2, changed_by=who)
                    await self._everywhere(back)
                    raise ModelRefused(failed[0].error)
        except (ModelRefused, ChangeInProgress, NothingToChange) as exc:
            metrics.MODEL_CHANGES.labels(action, "refused").inc()
            log.warning("admin %s by %s refused: %s", action, who, exc)
            raise
        metrics.MODEL_CHANGES.labels(action, "done").inc()
        log.info("admin %s by %s done: %s", action, who, asked or "")
        return {
            "action": action,
            "seconds": round(time.perf_counter() - started, 3),
            "workers": [asdict(s) for s in statuses],
        }

    def _wanted(self, action: str, before: Desired, asked: dict[str, Any]) -> Desired:
        m = self.models
        if action == "swap":
            return replace(before, serving=asked["path"])
        if action == "rollback":
            if m.previous is None:
                raise NothingToChange("no previous model is kept (its grace period is over)")
            return replace(before, serving=m.previous.path)
        if action == "confirm":
            return replace(before, release=before.release + 1)
        if action == "shadow":
            return replace(before, shadow=asked["path"], shadow_share=asked["share"])
        if action == "promote":
            if before.shadow is None:
                raise NothingToChange("no shadow candidate to promote")
            return replace(before, serving=before.shadow, shadow=None, shadow_share=0.0)
        if action == "drop":
            return replace(before, shadow=None, shadow_share=0.0)
        raise ValueError(f"unknown action {action!r}")

    def _launched(self) -> Desired:
        return Desired(generation=0, serving=self.models.serving.path)

    async def _everywhere(self, desired: Desired) -> list[WorkerStatus]:
        """Ask for `desired` and wait until every worker has applied it (its own loads
        included); ModelRefused naming the missing workers past SENTIMENT_SWAP_TIMEOUT_S."""
        self.control.ask(desired)
        deadline = time.monotonic() + self.settings.swap_timeout_s
        while True:
            statuses = self.control.statuses()
            done = [s for s in statuses if s.generation >= desired.generation]
            if len(done) >= self.settings.workers:
                return done
            if time.monotonic() > deadline:
                waiting = sorted(s.pid for s in statuses if s.generation < desired.generation)
                raise ModelRefused(
                    f"workers {waiting} did not apply the change within "
                    f"{self.settings.swap_timeout_s:g}s (SENTIMENT_SWAP_TIMEOUT_S)"
                )
            await asyncio.sleep(POLL_S)


def _init_loader() -> None:
    """The loader thread: one torch thread, and below /predict's threads for the CPU."""
    from service.engine.threads import init_inference_thread, lower_priority, name_thread

    name_thread("loader")
    lower_priority(10)
    init_inference_thread(1)


def _serving_changed(before: Loaded, now: Loaded) -> None:
    """The model-info series follows the serving model; the reference gauges are per version."""
    info = before.scorer.serving_info()
    old = (before.version, info["device"], info["dtype"])
    metrics.MODEL_INFO.labels(*old).set(0)  # multiprocess files keep a series: zero it
    if not metrics.MULTIPROCESS:  # where remove() works (prometheus_client warns otherwise)
        metrics.MODEL_INFO.remove(*old)
    info = now.scorer.serving_info()
    metrics.MODEL_INFO.labels(now.version, info["device"], info["dtype"]).set(1)
    metrics.set_reference(now.version, now.scorer.model.metadata.get("reference"))
