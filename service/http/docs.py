"""GET /docs: Swagger UI on the OpenAPI document at /openapi.json, served wholly by this server,
so that the API docs work where nothing outside the cluster can be reached.

- Swagger UI's JavaScript and CSS come from the fastapi-offline package, which vendors Swagger UI
  5 (the first major version that reads OpenAPI 3.1, the version FastAPI writes; the
  swagger-ui-bundle package still ships 4.15, which refuses it). Nothing is fetched from a CDN.
- The HTML and the script that starts the UI are ours (static/docs.html, static/docs.js): a file,
  not the inline script of FastAPI's own /docs, so the Content-Security-Policy can allow scripts
  from this origin only. Swagger UI's online validator badge is turned off, which would be the
  one request to another host.
- Four fixed paths, no path parameter: no request can name any other file.
FastAPI's own /docs and /redoc (both from a CDN, blank offline) are turned off in service.app."""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter
from starlette.responses import Response

from service.http.page import STATIC_HEADERS

router = APIRouter(include_in_schema=False)

# The page's headers: the same policy serves Swagger UI (its data: images are the icons that
# its CSS inlines).
_HEADERS = STATIC_HEADERS
_OURS = resources.files("service.http") / "static"
_SWAGGER_UI = resources.files("fastapi_offline") / "static"  # the package that vendors it


@cache
def _read(folder: Traversable, name: str) -> bytes:
    return (folder / name).read_bytes()


def _file(folder: Traversable, name: str, media_type: str) -> Response:
    return Response(_read(folder, name), media_type=media_type, headers=_HEADERS)


@router.api_route("/docs", methods=["GET", "HEAD"])
async def docs() -> Response:
    return _file(_OURS, "docs.html", "text/html; charset=utf-8")


@router.api_route("/docs/docs.js", methods=["GET", "HEAD"])
async def starter() -> Response:
    return _file(_OURS, "docs.js", "text/javascript; charset=utf-8")


@router.api_route("/docs/swagger-ui-bundle.js", methods=["GET", "HEAD"])
async def swagger_script() -> Response:
    return _file(_SWAGGER_UI, "swagger-ui-bundle.js", "text/javascript; charset=utf-8")


@router.api_route("/docs/swagger-ui.css", methods=["GET", "HEAD"])
async def swagger_stylesheet() -> Response:
    return _file(_SWAGGER_UI, "swagger-ui.css", "text/css; charset=utf-8")
