"""The workers' shared model state: paths under the model root only, atomic desired state, the
status of live workers only, and one change at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.engine.control import (
    ChangeInProgress,
    Desired,
    ModelControl,
    PathRefused,
    WorkerStatus,
    artifact_path,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "models" / "a").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path / "root"


def test_a_path_is_taken_under_the_root_relative_or_absolute(root: Path) -> None:
    a = (root / "models" / "a").resolve()
    assert artifact_path("models/a", root) == a
    assert artifact_path(str(a), root) == a
    assert artifact_path("models/../models/a", root) == a  # .. that stays inside is fine


@pytest.mark.parametrize("raw", ["..", "../elsewhere", "/etc", "models/../../elsewhere", ""])
def test_a_path_out_of_the_root_is_refused(root: Path, raw: str) -> None:
    with pytest.raises(PathRefused):
        artifact_path(raw, root)


def test_a_symbolic_link_out_of_the_root_is_refused(root: Path) -> None:
    (root / "models" / "link").symlink_to(root.parent / "elsewhere")
    with pytest.raises(PathRefused, match="outside the model root"):
        artifact_path("models/link", root)
    (root / "models" / "inside").symlink_to(root / "models" / "a")  # a link within is fine
    assert artifact_path("models/inside", root) == (root / "models" / "a").resolve()
    with pytest.raises(PathRefused):
        artifact_path(42, root)  # type: ignore[arg-type]
    with pytest.raises(PathRefused, match="NUL"):
        artifact_path("models/a\x00", root)


def test_desired_state_round_trips_and_dead_workers_are_forgotten(tmp_path: Path) -> None:
    control = ModelControl(tmp_path / "c")
    assert control.desired() is None and control.changed_at() == 0
    control.ask(Desired(generation=3, serving="/m/a", shadow="/m/b", shadow_share=0.2))
    assert control.desired() == Desired(3, "/m/a", "/m/b", 0.2)
    control.report(WorkerStatus(pid=os.getpid(), generation=3, serving="a"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    control.report(WorkerStatus(pid=gone.pid, generation=1, serving="old"))
    assert [s.pid for s in control.statuses()] == [os.getpid()]
    assert not (tmp_path / "c" / "workers" / f"{gone.pid}.json").exists()


def test_one_change_at_a_time(tmp_path: Path) -> None:
    control = ModelControl(tmp_path / "c")
    other = ModelControl(tmp_path / "c")  # another worker's view of the same folder
    with (
        control.change_lock(),
        pytest.raises(ChangeInProgress, match="in progress"),
        other.change_lock(),
    ):
        pass
    with other.change_lock():  # free again
        pass


def test_a_private_folder_is_removed_when_closed() -> None:
    control = ModelControl.for_process(None)
    assert control.folder.is_dir() and control.owned
    control.close()
    assert not control.folder.exists()
