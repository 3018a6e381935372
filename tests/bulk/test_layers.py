"""bulk runs on Ray workers and in slim images: it never imports the HTTP stack, and imports ray
only when --engine ray runs. Checked in a fresh interpreter, where nothing else imported them."""

from __future__ import annotations

import pkgutil

import pytest

import bulk
from tests.service.test_layers import imported_after

# No Ray, no server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel


def test_no_bulk_module_imports_the_http_stack_or_ray() -> None:
    names = [f"bulk.{info.name}" for info in pkgutil.iter_modules(bulk.__path__)]
    assert {"bulk.ray_data", "bulk.ray_engine", "bulk.local", "bulk.cli"} <= set(names)
    loaded = imported_after([n for n in names if n != "bulk.__main__"])
    assert not loaded & {"starlette", "fastapi", "uvicorn", "ray", "prometheus_client"}
    assert {"model", "orjson"} <= loaded  # the check itself works: the modules were imported
