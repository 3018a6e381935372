"""The layers keep their rules: the HTTP layer never imports torch, the engine never imports
starlette or fastapi. Each is checked in a fresh interpreter, where nothing else has imported
them first."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import service.engine
import service.http

ROOT = Path(__file__).resolve().parents[2]


def modules(package: object) -> list[str]:
    found = [package.__name__]  # type: ignore[attr-defined]
    for info in pkgutil.iter_modules(package.__path__):  # type: ignore[attr-defined]
        found.append(f"{package.__name__}.{info.name}")  # type: ignore[attr-defined]
    return found


def imported_after(names: list[str]) -> set[str]:
    """The top-level packages in sys.modules after importing `names` in a fresh interpreter."""
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_every_http_module_is_listed() -> None:
    names = modules(service.http)
    assert {"service.http.predict", "service.http.explain", "service.http.probes"} <= set(names)


def test_the_http_layer_never_imports_torch() -> None:
    loaded = imported_after(modules(service.http))
    assert "torch" not in loaded and "spacy" not in loaded
    assert "starlette" in loaded  # the check itself works: the layer was imported


@pytest.mark.parametrize("name", modules(service.engine))
def test_the_engine_never_imports_starlette_or_fastapi(name: str) -> None:
    loaded = imported_after([name])
    assert not loaded & {"starlette", "fastapi"}, name


def test_the_route_labels_are_the_routes_the_app_serves() -> None:
    from service.app import create_app
    from service.http import routes
    from service.settings import load_settings

    app = create_app(load_settings())
    served = routes.paths(app)
    assert {"/predict", "/explain", "/healthz", "/readyz", "/model", "/metrics", "/"} <= served
    assert {"/docs", "/openapi.json", "/static/page.js", "/static/page.css"} <= served
    assert {"/docs/docs.js", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"} <= served
    assert "/redoc" not in served  # FastAPI's own, from a CDN, is off
    middleware = next(m for m in app.user_middleware if m.cls.__name__ == "ObservabilityMiddleware")
    assert middleware.kwargs["routes"] == served
