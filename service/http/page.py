"""GET /: a page where a person types a review and sees its label, its probability and each
word shaded by its attribution (POST /explain). Static HTML, CSS and plain JavaScript shipped in
the package (service/http/static/): no build step, nothing fetched from another host, which the
Content-Security-Policy header enforces in the browser too. The page asks for an API key when
GET /model answers 401."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter(include_in_schema=False)

STATIC_HEADERS = {  # the page's and /docs' files: nothing from another host, no inline script
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # a new release's script is picked up at once
}


@cache
def _read(name: str) -> bytes:
    return (resources.files("service.http") / "static" / name).read_bytes()


def _file(name: str, media_type: str) -> Response:
    return Response(_read(name), media_type=media_type, headers=STATIC_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
async def page() -> Response:
    return _file("index.html", "text/html; charset=utf-8")


@router.api_route("/static/page.css", methods=["GET", "HEAD"])
async def stylesheet() -> Response:
    return _file("page.css", "text/css; charset=utf-8")


@router.api_route("/static/page.js", methods=["GET", "HEAD"])
async def script() -> Response:
    return _file("page.js", "text/javascript; charset=utf-8")
