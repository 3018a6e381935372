"""The models of a worker: which one a request is pinned to, swaps, rollback and release, and
the checks that refuse a candidate instead of stopping the worker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from model.artifact import PROGRAM
from service.engine.models import Loaded, ModelRefused, Registry, load_model
from service.engine.threads import parallelism
from service.settings import load_settings
from tests.faulty import broken_artifact


class Named:
    def __init__(self, version: str) -> None:
        self.version, self.path = version, f"/m/{version}"


def loaded(version: str) -> Loaded:
    return Loaded(Named(version), None, f"{version} has no explainer")


def test_promote_rollback_and_release() -> None:
    a, b = loaded("a"), loaded("b")
    models = Registry(a)
    assert models.pin() is a.scorer and not models.rollback()
    models.promote(b, grace_s=60)
    assert models.pin() is b.scorer and models.previous is a
    assert models.release_previous(now=models.previous_until - 1) is None  # still in grace
    assert models.rollback() and models.pin() is a.scorer and models.previous is b
    assert models.release_previous() is b and models.previous is None
    assert models.explain_unavailable() == "a has no explainer"


def test_promoting_the_shadow_candidate_ends_the_shadow() -> None:
    a, candidate = loaded("a"), loaded("c")
    models = Registry(a)
    models.shadow, models.shadow_share = candidate, 0.5
    models.promote(candidate, grace_s=0)
    assert models.serving is candidate and models.shadow is None and models.shadow_share == 0


@pytest.fixture(scope="module")
def settings(tiny_artifact: Path) -> object:
    return load_settings(model=tiny_artifact, dtype="fp32", torch_threads=1, warmup_rounds=1)


def test_a_good_artifact_loads_with_its_explainer(settings: object, tiny_artifact: Path) -> None:
    model = load_model(settings, parallelism(settings), tiny_artifact)
    assert model.version.startswith("tiny-") and model.explainer is not None
    assert model.scorer.warmup_seconds > 0


def test_a_corrupt_missing_or_failing_artifact_is_refused(
    settings: object, tiny_artifact: Path, tmp_path: Path
) -> None:
    parallel = parallelism(settings)
    corrupt = Path(shutil.copytree(tiny_artifact, tmp_path / "corrupt"))
    with (corrupt / PROGRAM).open("ab") as f:
        f.write(b"x")
    cases = [
        (corrupt, "SHA-256 does not match"),
        (tmp_path / "missing", "no such artifact directory"),
        (broken_artifact(tiny_artifact, tmp_path / "nan", "nan"), "not a probability"),
        (
            broken_artifact(tiny_artifact, tmp_path / "batches", "fails_on_batches"),
            "fails on the built-in samples",
        ),
    ]
    for path, cause in cases:
        with pytest.raises(ModelRefused, match=cause):
            load_model(settings, parallel, path)
