"""Which model every worker should serve, in files the workers share.

    <dir>/desired.json        what the operator asked for: the serving artifact, the shadow
                              candidate and its share, and a generation that counts changes
    <dir>/workers/<pid>.json  what each worker has applied: its generation, the versions it
                              serves, keeps for rollback and shadows, and its last error
    <dir>/change.lock         held by the worker that carries out an admin call: one change at a
                              time, across workers
    <dir>/load.lock           held by a worker while it loads a model: loads are staggered, so
                              that N workers never take N models' worth of CPU and memory at once

With several workers the folder sits inside the Prometheus multiprocess folder that
sentiment-serve makes for them (and empties at start); a single worker uses a folder of its own.
A worker started later (a replacement after a crash) reads desired.json and starts on the model
it names. Files are written to a temporary name and renamed, so a reader never sees half of one.

Paths are checked here too: an artifact must lie under the configured model root once every
symbolic link is resolved.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from service.metrics import alive


class PathRefused(Exception):
    """An artifact path that admin calls may not use: answer 403."""


class ChangeInProgress(Exception):
    """Another model change is being carried out: answer 409."""


@dataclass(frozen=True)
class Desired:
    generation: int
    serving: str  # the artifact directory every worker should serve
    shadow: str | None = None  # a candidate that scores a share of live texts, or none
    shadow_share: float = 0.0
    release: int = 0  # raised by "confirm": release the previous model now
    changed_by: str = ""  # who asked (a key's fingerprint), for the status and the logs


@dataclass
class WorkerStatus:
    pid: int
    generation: int = -1
    serving: str = ""  # model version
    serving_path: str = ""
    previous: str | None = None
    shadow: str | None = None
    loading: bool = False
    ready: bool = False
    error: str | None = None  # why this worker could not apply `generation`


class ModelControl:
    def __init__(self, folder: Path, owned: bool = False) -> None:
        self.folder = folder
        self.owned = owned  # a private folder, removed by close()
        (folder / "workers").mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_process(cls, shared: str | None) -> ModelControl:
        """The shared folder of several workers (inside `shared`), or a private one."""
        if shared:
            return cls(Path(shared) / "models")
        return cls(Path(tempfile.mkdtemp(prefix="sentiment-models-")), owned=True)

    def close(self) -> None:
        if self.owned:
            shutil.rmtree(self.folder, ignore_errors=True)

    def desired(self) -> Desired | None:
        try:
            return Desired(**json.loads((self.folder / "desired.json").read_text()))
        except FileNotFoundError:
            return None

    def ask(self, desired: Desired) -> None:
        _write(self.folder / "desired.json", asdict(desired))

    def changed_at(self) -> float:
        """When desired.json last changed (0 if never): a cheap check for the workers' loop."""
        try:
            return (self.folder / "desired.json").stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def report(self, status: WorkerStatus) -> None:
        _write(self.folder / "workers" / f"{status.pid}.json", asdict(status))

    def forget(self, pid: int) -> None:
        (self.folder / "workers" / f"{pid}.json").unlink(missing_ok=True)

    def statuses(self) -> list[WorkerStatus]:
        """The status of every live worker (files of dead ones are removed)."""
        found = []
        for path in sorted((self.folder / "workers").glob("*.json")):
            pid = int(path.stem)
            if not alive(pid):
                path.unlink(missing_ok=True)
                continue
            try:
                found.append(WorkerStatus(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):  # replaced as we read it: next time
                continue
        return found

    @contextlib.contextmanager
    def change_lock(self) -> Iterator[None]:
        """Held for the whole of one admin change; ChangeInProgress if another holds it."""
        with (self.folder / "change.lock").open("w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ChangeInProgress(
                    "another model change is in progress; retry when it is done"
                ) from None
            yield

    @contextlib.contextmanager
    def load_lock(self) -> Iterator[None]:
        """Held while this worker loads a model (blocking: loads take turns)."""
        with (self.folder / "load.lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield


def artifact_path(raw: object, root: Path) -> Path:
    """The artifact directory `raw` names, relative to `root` or absolute, once every link is
    resolved; PathRefused if it is not under `root` (no .., no symbolic link out of it)."""
    if not isinstance(raw, str) or not raw.strip():
        raise PathRefused("path: send the artifact directory as a non-empty string")
    if "\x00" in raw:
        raise PathRefused("path: a path cannot hold a NUL character")
    base = os.path.realpath(root)
    resolved = os.path.realpath(os.path.join(base, raw))  # an absolute raw replaces base
    if os.path.commonpath([resolved, base]) != base:
        raise PathRefused(
            f"path: {raw!r} is outside the model root (SENTIMENT_MODEL_ROOT); admin calls may "
            "load artifacts from under it only"
        )
    return Path(resolved)


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
