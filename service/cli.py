"""sentiment-serve / python -m service: flags over SENTIMENT_* variables, then uvicorn.

Every setting has a flag (--max-batch-size) and a variable (SENTIMENT_MAX_BATCH_SIZE); a flag
wins. A bad value, or an artifact that is missing a file, stops start-up with exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Literal, get_args, get_origin

import uvicorn

from service.http.protocol import HeaderDeadlineProtocol
from service.settings import ENV_PREFIX, Settings, SettingsError, get_settings, load_settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sentiment-serve",
        description="Serve the sentiment model over HTTP: POST /predict, POST /explain, the "
        "page at /, probes, /model and Prometheus /metrics.",
        epilog="Every flag can be set by its environment variable instead; a flag wins.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    for name, info in Settings.model_fields.items():
        env = f"{ENV_PREFIX}{name.upper()}"
        default = info.get_default(call_default_factory=True)
        shown = _DEFAULTS_IN_WORDS.get(name, default)
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=None,  # unset: the environment variable, then the setting's default
            metavar=_metavar(name, info.annotation),
            help=f"{info.description or name.replace('_', ' ')} (default: {shown}; env {env})",
        )
    return p


# Defaults that read better in words than as values.
_DEFAULTS_IN_WORDS = {
    "model": "the bundled model",
    "api_keys": "none, no key needed",
    "admin_keys": "none, the admin routes are off",
    "model_root": "none",
}


def _metavar(name: str, annotation: object) -> str:
    """What a flag takes: its choices, or a word for its kind of value."""
    choices = get_args(annotation) if get_origin(annotation) is Literal else ()
    if choices:
        return "{" + ",".join(str(c) for c in choices) + "}"
    if name.endswith("_s"):
        return "SECONDS"
    if name.endswith("_ms"):
        return "MS"
    words = {int: "N", float: "X", str: "TEXT", bool: "BOOL"}
    named = {"model": "PATH", "model_root": "PATH", "host": "ADDRESS"}
    named.update(api_keys="KEY[,KEY...]", admin_keys="KEY[,KEY...]")
    return named.get(
        name,
        words.get(annotation, "VALUE"),  # type: ignore[call-overload]
    )


def package_version() -> str:
    try:
        return metadata.version("sentiment-service")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings(**vars(args))
        check_port(settings)
        check_artifact(settings)
        check_runtime(settings)
    except SettingsError as exc:
        print(f"sentiment-serve: {exc}", file=sys.stderr)
        return 2
    # Worker processes, and the HTTP protocol (service.http), read their settings from the
    # environment: the flags go there too.
    os.environ.update(settings.env())
    get_settings.cache_clear()
    if settings.workers > 1:
        return run_workers(settings)
    from service.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(app, **_uvicorn_options(settings))
    # uvicorn re-raises the SIGTERM it caught once its graceful shutdown is over; with this no-op
    # handler in place, that re-raise is harmless and a drained shutdown exits 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server = uvicorn.Server(config)
    server.run()
    # A worker whose warm-up or checks failed stops itself as SIGTERM would: not a success.
    return 0 if server.started and app.state.service.failure is None else 1


def check_port(settings: Settings) -> None:
    """Fail at once on an address this process cannot listen on (a port another process
    holds, say), not after loading and warming up the model. The probe socket is closed before
    uvicorn binds, as uvicorn's own is opened: with SO_REUSEADDR, so that a port in TIME_WAIT
    after a restart is not taken for a busy one."""
    if settings.port == 0:  # any free port: nothing to check
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc}"
        raise SettingsError(
            f"invalid setting SENTIMENT_PORT / --port: {settings.host}:{settings.port} {reason}; "
            "stop what listens there, or choose another port (or SENTIMENT_HOST / --host)"
        ) from exc


def check_artifact(settings: Settings) -> None:
    """Fail fast on a missing or inconsistent artifact, before binding a port."""
    from model.api import bundled_model_path
    from model.artifact import ArtifactError, read_metadata

    try:
        read_metadata(settings.model or bundled_model_path())
    except ArtifactError as exc:
        raise SettingsError(f"invalid setting SENTIMENT_MODEL / --model: {exc}") from exc


def check_runtime(settings: Settings) -> None:
    """Refuse a device or precision this machine cannot run, here, before any worker starts:
    uvicorn's supervisor restarts a worker that exits, so a worker that refused would be
    started again for ever. 'auto' always resolves; only explicit choices are checked (and
    only they import torch in this process)."""
    if settings.device == "auto" and settings.dtype == "auto":
        return
    from model.runtime import resolve_device, resolve_dtype

    try:
        device = resolve_device(settings.device)
    except ValueError as exc:
        raise SettingsError(f"invalid setting SENTIMENT_DEVICE / --device: {exc}") from exc
    try:
        resolve_dtype(settings.dtype, device)
    except ValueError as exc:
        raise SettingsError(f"invalid setting SENTIMENT_DTYPE / --dtype: {exc}") from exc


def run_workers(settings: Settings) -> int:
    """Several worker processes behind one port, with Prometheus multiprocess metrics. uvicorn
    replaces a worker that dies; the metrics files of the old one stop counting as live
    (service.metrics.forget_dead_workers). The metrics folder starts empty (prometheus_client
    needs that) and is emptied at exit, and removed when this process made it."""
    from service import metrics

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="sentiment-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # an earlier run's files would be summed in
        stale.unlink()
    # The workers' shared model state (service.engine.control): a new start serves the model it
    # is launched with, not one an earlier run swapped to.
    shutil.rmtree(folder / "models", ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    (folder / metrics.START_UP_FAILURE).unlink(missing_ok=True)
    try:
        uvicorn.run(
            "service.app:create_app",
            factory=True,
            workers=settings.workers,
            **_uvicorn_options(settings),
        )
        failure = metrics.start_up_failure(str(folder))
    finally:
        if given:
            for done in [*folder.glob("*.db"), folder / metrics.START_UP_FAILURE]:
                done.unlink(missing_ok=True)
            shutil.rmtree(folder / "models", ignore_errors=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    if failure is not None:  # a worker could not start, and uvicorn stopped the others
        print(f"sentiment-serve: {failure.splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


def _uvicorn_options(settings: Settings) -> dict[str, object]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": settings.drain_timeout_s,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "limit_concurrency": settings.max_connections,
        "http": HeaderDeadlineProtocol,
        "lifespan": "on",
    }
