"""GET /docs works with no internet: Swagger UI and its assets come from this server alone. In a
real browser (Debian's Chromium), every request /docs makes is recorded and any to another host
refused, and the operations of /openapi.json must render; over HTTP, the HTML names no other
host and only the few fixed asset paths are served."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import ServerProcess

# Questions to a server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture()
def offline(browser: object, server: ServerProcess) -> Iterator[object]:
    """A browser context that can reach the server and nothing else: a request to any other
    origin is aborted and recorded in `context.outside`; console errors (a refused script or a
    CSP violation among them) in `context.errors`."""
    context = browser.new_context()  # type: ignore[attr-defined]
    context.outside, context.errors = [], []

    def only_the_server(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(server.url + "/") or url.startswith("data:"):
            route.continue_()  # type: ignore[attr-defined]
        else:
            context.outside.append(url)
            route.abort()  # type: ignore[attr-defined]

    context.route("**/*", only_the_server)
    yield context
    context.close()


@pytest.mark.serial  # a browser, with its own time limits
def test_docs_render_every_operation_with_nothing_fetched_from_elsewhere(
    offline: object, server: ServerProcess
) -> None:
    page = offline.new_page()  # type: ignore[attr-defined]
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.on("console", lambda m: m.type == "error" and offline.errors.append(m.text))
    page.goto(server.url + "/docs")
    page.wait_for_load_state("load")
    assert offline.outside == []  # type: ignore[attr-defined]

    page.wait_for_selector('.opblock-post [data-path="/predict"]', timeout=30_000)
    spec = httpx.get(f"{server.url}/openapi.json").json()
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }
    shown = page.eval_on_selector_all(
        ".opblock",
        """blocks => blocks.map(b => [
            b.querySelector('.opblock-summary-method').textContent,
            b.querySelector('.opblock-summary-path').dataset.path,
        ])""",
    )
    assert {tuple(op) for op in shown} == operations and len(shown) == len(operations)
    assert {("POST", "/predict"), ("POST", "/explain")} <= operations
    assert page.query_selector(".errors-wrapper") is None  # Swagger UI read the schema

    assert offline.outside == [] and offline.errors == []  # type: ignore[attr-defined]
    assert fetched and all(url.startswith(server.url + "/") for url in fetched), fetched
    assert f"{server.url}/openapi.json" in fetched


def test_the_docs_html_names_no_other_host_and_its_csp_allows_none(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    links = re.findall(r'(?:src|href)="([^"]*)"', response.text)
    paths = [link for link in links if link != "data:,"]  # the empty favicon
    assert len(paths) == 3, links  # the stylesheet and the two scripts
    assert all(p.startswith("/docs/") for p in paths), paths  # this origin, no "//host/..."
    assert "http://" not in response.text and "https://" not in response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp
    assert "unsafe-inline" not in csp and "http" not in csp


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("/docs/swagger-ui.css", "text/css; charset=utf-8"),
        ("/docs/docs.js", "text/javascript; charset=utf-8"),
    ],
)
def test_the_docs_assets_are_served_with_their_media_types(
    server: ServerProcess, path: str, media_type: str
) -> None:
    response = httpx.get(server.url + path)
    assert response.status_code == 200 and response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.content) > 100


@pytest.mark.parametrize(
    "path",
    [
        "/docs/favicon.png",  # in the vendoring package, but not one of the files served
        "/docs/redoc.standalone.js",
        "/docs/swagger-ui-bundle.js.map",
        "/docs/%2e%2e/%2e%2e/pyproject.toml",
        "/docs/..%2f..%2fpyproject.toml",
        "/redoc",  # FastAPI's own, from a CDN: turned off
    ],
)
def test_no_other_path_under_docs_is_served(server: ServerProcess, path: str) -> None:
    assert httpx.get(server.url + path).status_code == 404


def test_the_openapi_document_is_still_served(server: ServerProcess) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/predict" in spec["paths"] and "/docs" not in spec["paths"]
