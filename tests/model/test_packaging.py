"""The bundled model ships in the wheel and loads from an installed copy, not the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from model import bundled_model_path

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not bundled_model_path().is_dir(), reason="no bundled model in this checkout"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("sentiment_service-*.whl"))


def test_the_wheel_carries_the_artifact(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("model.pt", "vocab.json", "metadata.json"):
        assert f"model/bundled/imdb-bilstm/{name}" in names
    for name in ("index.html", "page.css", "page.js"):  # the page at GET /
        assert f"service/http/static/{name}" in names
    for name in ("docs.html", "docs.js"):  # GET /docs; Swagger UI itself is a dependency's
        assert f"service/http/static/{name}" in names
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


def test_the_wheel_requires_the_package_that_serves_swagger_ui(wheel: Path) -> None:
    """/docs reads Swagger UI's files from fastapi-offline at run time (service/http/docs.py):
    an install without it would fail at start-up."""
    archive = zipfile.ZipFile(wheel)
    metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    requires = [
        line.split(":", 1)[1].strip()
        for line in archive.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    assert any(r.replace("_", "-").startswith("fastapi-offline") for r in requires), requires


def test_an_installed_wheel_loads_its_own_copy(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from model import SentimentModel, bundled_model_path; m = SentimentModel.load(); "
        "print(bundled_model_path()); print(m.predict(['a wonderful film'])[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(target)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    path, score = result.stdout.split()
    assert Path(path).is_relative_to(target) and 0.0 <= float(score) <= 1.0
