"""The app factory. Its lifespan loads the artifact, starts the batcher, warms the model up in the
background and only then reports ready; on shutdown it drains the batcher."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service import logs, metrics
from service.engine import explain_queue
from service.engine.batcher import Batcher
from service.engine.control import Desired, ModelControl
from service.engine.models import Loaded, Registry
from service.engine.native import bound_native_memory
from service.engine.shadow import ShadowQueue
from service.engine.swapper import Swapper
from service.http import errors, explain, predict, routes
from service.http.middleware import ObservabilityMiddleware
from service.http.schemas import request_schema
from service.settings import Settings, get_settings

log = logging.getLogger("service")
BATCHER_STOP_S = 5.0
# A worker whose start-up failed answers its probes with the reason this long, then stops.
FAILED_STOP_DELAY_S = 1.0


@dataclass
class ServiceState:
    settings: Settings
    scorer: Any = None  # the model it started with: service.engine.scorer.Scorer (torch)
    models: Any = None  # service.engine.models.Registry: the serving, previous, shadow models
    swapper: Any = None  # service.engine.swapper.Swapper: model changes on every worker
    shadow: Any = None  # service.engine.shadow.ShadowQueue
    batcher: Batcher | None = None
    torch_pool: ThreadPoolExecutor | None = None
    explanations: explain_queue.Explanations | None = None  # POST /explain's queue, or why not
    ready: bool = False
    draining: bool = False
    failure: str | None = None  # why start-up failed: this worker cannot serve and is stopping
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def status(self) -> str:
        if self.failure is not None:
            return "failed"
        if self.draining:
            return "draining"
        return "ready" if self.ready else "loading"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_level, settings.log_format)
    state = ServiceState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # torch loads here, not at import, once the bounds on its native memory are set
        bound_native_memory(settings)
        from service.engine.scorer import Scorer
        from service.engine.threads import init_inference_thread, parallelism

        # Every torch call runs on these threads, each set up for torch once: load, warm-up,
        # precision check, inference. Torch work issued from a thread that was not set up
        # (asyncio's default executor, say) gets an OpenMP team of its own, and the teams then
        # ran 2-2.6x slower than one alone (python -m benchmarks.threads).
        parallel = parallelism(settings)
        state.torch_pool = ThreadPoolExecutor(
            parallel.batches,
            thread_name_prefix="torch",
            initializer=init_inference_thread,
            initargs=(parallel.torch_threads,),
        )
        loop = asyncio.get_running_loop()
        # The model the workers serve now (a worker started after a swap starts on the swapped
        # one), or the one the service was launched with.
        control = ModelControl.for_process(metrics.MULTIPROC_DIR)
        desired = control.desired()
        path = Path(desired.serving) if desired else settings.model
        # A model that cannot load stops start-up here; uvicorn exits with the traceback.
        try:
            state.scorer = await loop.run_in_executor(
                state.torch_pool, Scorer, settings, parallel, path
            )
        except Exception as exc:
            log.critical("start-up failed while loading the model: %s: %s", type(exc).__name__, exc)
            raise
        if desired is None:
            control.ask(Desired(generation=0, serving=str(state.scorer.path)))
        state.models = Registry(Loaded(state.scorer, None, None))
        state.shadow = ShadowQueue(state.models, settings.shadow_queue_capacity, nice=19)
        state.batcher = Batcher(
            state.models,
            settings.max_batch_size,
            settings.max_batch_wait_ms / 1000,
            settings.queue_capacity,
            run_executor=state.torch_pool,
            concurrency=parallel.batches,
            after_batch=state.shadow.offer,
        )
        state.batcher.start()
        state.shadow.start()
        # Its own queue and threads, loaded and warmed up here; 501 for old artifacts.
        state.explanations = await explain_queue.start_explanations(settings, state.models)
        info = state.scorer.serving_info()
        metrics.MODEL_INFO.labels(state.scorer.version, info["device"], info["dtype"]).set(1)
        metrics.set_reference(state.scorer.version, state.scorer.model.metadata.get("reference"))
        state.swapper = Swapper(settings, parallel, control, state.models, lambda: state.ready)
        _on_sigterm(lambda: setattr(state, "draining", True))
        _spawn(state, _warm_up(state))
        if metrics.MULTIPROCESS:
            _spawn(state, _report_worker())
        log.info(
            "serving %s on %s in %s: %d batches at once, %d torch threads each",
            state.scorer.version,
            info["device"],
            info["dtype"],
            info["inference_threads"],
            info["torch_threads"],
        )
        try:
            yield
        finally:
            state.draining = True
            metrics.READY.set(0)
            for task in state.tasks:
                task.cancel()
            # uvicorn has already waited up to drain_timeout_s for requests in flight; what is
            # still queued belongs to clients it gave up on. A short bound keeps the whole
            # shutdown inside drain_timeout_s + BATCHER_STOP_S (docs/deployment.md).
            stop_s = min(settings.drain_timeout_s, BATCHER_STOP_S)
            await asyncio.gather(state.batcher.stop(stop_s), state.explanations.stop(stop_s))
            await asyncio.gather(state.shadow.stop(), state.swapper.stop())
            metrics.mark_worker_exit()
            log.info("stopped")
            if state.failure is not None and metrics.MULTIPROCESS:
                _exit_as_start_up_failure(state.failure)

    app = FastAPI(
        title="Sentiment service",
        version="1",
        summary="P(positive) for English reviews, from a BiLSTM trained on IMDB.",
        lifespan=lifespan,
        docs_url=None,  # service.http.docs serves /docs from the package, not from a CDN
        redoc_url=None,  # ReDoc would load from a CDN: blank where the internet is out of reach
        # Operation ids are the handlers' names (predict, explain, healthz, ...), which client
        # generators turn into method names, not FastAPI's name_path_method.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.service = state
    errors.install(app)
    routes.install(app)
    app.add_middleware(
        ObservabilityMiddleware,
        max_body_bytes=settings.max_body_bytes,
        routes=routes.paths(app),
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema of the app's routes, plus the declaration of POST /predict with this
    server's limits, and /metrics as the Prometheus text it is."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=[predict.doc_route(), explain.doc_route(), *app.routes],
        )
        settings = app.state.service.settings
        schema["components"]["schemas"]["PredictRequest"] = request_schema(settings)
        schema["paths"]["/metrics"]["get"]["responses"]["200"] = {
            "description": "Prometheus text exposition format",
            "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
        }
        app.openapi_schema = schema
    return app.openapi_schema


def _spawn(state: ServiceState, coro: Any) -> None:
    task = asyncio.get_running_loop().create_task(coro)
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _warm_up(state: ServiceState) -> None:
    """Warm the model up and check it on the built-in samples, then report ready. If either
    fails, the worker can never serve: it says why, fails its probes and stops (a worker left
    "loading" for ever would be neither restarted nor routed around)."""
    scorer = state.scorer
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(state.torch_pool, scorer.warm_up, state.settings.warmup_rounds)
        await loop.run_in_executor(state.torch_pool, scorer.check)
    except Exception as exc:  # noqa: BLE001 - every failure here is fatal to the worker
        _fail_start_up(state, f"{type(exc).__name__}: {exc}")
        return
    # torch, spaCy and the model leave millions of long-lived objects that every full garbage
    # collection would walk again. Measured with benchmarks/loopcost.py: 404 -> 266 us of event
    # loop per short request, and p99 127 -> 23 ms at concurrency 64. Freeze them out of sight.
    gc.collect()
    gc.freeze()
    state.ready = not state.draining
    metrics.READY.set(1 if state.ready else 0)
    state.swapper.start()  # model changes are taken once this worker serves
    log.info("ready after %.2fs of warm-up", scorer.warmup_seconds)


def _fail_start_up(state: ServiceState, reason: str) -> None:
    """Mark the worker failed (/healthz and /readyz answer 503 with the reason) and stop it as
    SIGTERM would: its supervisor, Docker's restart policy or Kubernetes then restarts it."""
    state.failure = f"start-up failed in warm-up and checks: {reason}"
    metrics.READY.set(0)
    log.critical("%s; this worker cannot serve and stops", state.failure)
    # A moment for a probe or a scrape to read the reason, then stop.
    asyncio.get_running_loop().call_later(FAILED_STOP_DELAY_S, signal.raise_signal, signal.SIGTERM)


def _exit_as_start_up_failure(reason: str) -> None:
    """End a worker whose start-up failed with uvicorn's STARTUP_FAILURE code: its supervisor
    then stops the whole service instead of replacing the worker, for ever, with one that would
    fail the same way. The reason is left for the parent (service.cli.run_workers) to report."""
    from uvicorn.config import STARTUP_FAILURE

    metrics.record_start_up_failure(reason)
    logs.flush()
    os._exit(STARTUP_FAILURE)


async def _report_worker() -> None:
    """In multiprocess mode each worker refreshes its own process gauges and drops those of
    workers that died."""
    while True:
        metrics.update_worker_gauges()
        metrics.forget_dead_workers()
        await asyncio.sleep(5)


def _on_sigterm(callback: Any) -> None:
    """Run `callback` (readiness -> draining) when SIGTERM arrives, then uvicorn's handler, which
    stops taking connections and finishes those in flight. uvicorn restores its handlers at exit."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: Any) -> None:
        callback()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handler)
