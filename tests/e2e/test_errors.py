"""Every kind of bad input gets a 4xx JSON error naming the problem, and the server stays up."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.e2e.server import ServerProcess

# Questions to a server, nothing timed: beside other tests (tests/conftest.py).
pytestmark = pytest.mark.parallel

JSON = {"content-type": "application/json"}
CASES = [
    # (name, body bytes, headers, status, error code, field, words the message must contain)
    ("invalid JSON", b'{"text": ', JSON, 400, "invalid_json", None, "not valid JSON"),
    ("invalid UTF-8", b'{"text": "caf\xe9"}', JSON, 400, "invalid_utf8", None, "UTF-8"),
    (
        "wrong content type",
        b'{"text": "hi"}',
        {"content-type": "text/plain"},
        415,
        "unsupported_media_type",
        None,
        "application/json",
    ),
    (
        "no content type",
        b'{"text": "hi"}',
        {},
        415,
        "unsupported_media_type",
        None,
        "application/json",
    ),
    ("missing field", b"{}", JSON, 422, "invalid_request", None, "exactly one of 'text'"),
    (
        "both fields",
        b'{"text": "a", "texts": ["b"]}',
        JSON,
        422,
        "invalid_request",
        None,
        "exactly one",
    ),
    (
        "unknown field",
        b'{"txt": "a"}',
        JSON,
        422,
        "invalid_request",
        "txt",
        'txt: not a field of this request; send {"text": "one review"} or {"texts": [',
    ),
    ("text not a string", b'{"text": 42}', JSON, 422, "invalid_request", "text", "valid string"),
    ("texts not a list", b'{"texts": "abc"}', JSON, 422, "invalid_request", "texts", "valid list"),
    (
        "a text in texts not a string",
        b'{"texts": ["ok", null]}',
        JSON,
        422,
        "invalid_request",
        "texts[1]",
        "valid string",
    ),
    (
        "body an array",
        b'["a"]',
        JSON,
        422,
        "invalid_request",
        None,
        'body: the body is a JSON array; send an object, {"text": "one review"} or',
    ),
    ("body a string", b'"a review"', JSON, 422, "invalid_request", None, "a JSON string; send"),
    ("empty text", b'{"text": ""}', JSON, 422, "empty_text", "text", "empty"),
    ("whitespace text", b'{"text": " \\n\\t "}', JSON, 422, "empty_text", "text", "whitespace"),
    (
        "empty text in texts",
        b'{"texts": ["fine", "  "]}',
        JSON,
        422,
        "empty_text",
        "texts[1]",
        "empty",
    ),
    ("empty texts", b'{"texts": []}', JSON, 422, "no_texts", "texts", "at least one"),
    ("only line breaks", b'{"text": "<br /><BR>"}', JSON, 422, "empty_text", "text", "line breaks"),
    (
        "only invisible characters",
        '{"text": "\u200b\ufeff \u202e"}'.encode(),
        JSON,
        422,
        "empty_text",
        "text",
        "invisible",
    ),
    ("lone surrogate", b'{"text": "\\ud800"}', JSON, 422, "invalid_text", "text", "U+D800"),
    (
        "lone surrogate in texts",
        b'{"texts": ["fine", "a\\udc00b"]}',
        JSON,
        422,
        "invalid_text",
        "texts[1]",
        "surrogate",
    ),
    ("nested 5,000 deep", b"[" * 5000 + b"]" * 5000, JSON, 400, "invalid_json", None, "depth"),
    ("5,000 digits", b'{"text": ' + b"9" * 5000 + b"}", JSON, 400, "invalid_json", None, "JSON"),
    ("NaN", b'{"text": NaN}', JSON, 400, "invalid_json", None, "not valid JSON"),
    ("empty body", b"", JSON, 400, "invalid_json", None, "not valid JSON"),
    (
        "text too long",
        b'{"text": "' + b"a" * 20_001 + b'"}',
        JSON,
        422,
        "text_too_long",
        "text",
        "20,000",
    ),
    (
        "too many texts",
        b'{"texts": [' + b",".join([b'"x"'] * 129) + b"]}",
        JSON,
        422,
        "too_many_texts",
        "texts",
        "limit is 128",
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "headers", "status", "code", "field", "words"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_bad_input(
    server: ServerProcess,
    name: str,
    body: bytes,
    headers: dict,
    status: int,
    code: str,
    field: str | None,
    words: str,
) -> None:
    r = httpx.post(f"{server.url}/predict", content=body, headers=headers)
    assert r.status_code == status, r.text
    error = r.json()
    assert error["error"] == code and error["field"] == field and words in error["message"], error
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_long_real_review_is_accepted(server: ServerProcess) -> None:
    assert (
        httpx.post(f"{server.url}/predict", json={"text": "great film. " * 1_666}).status_code
        == 200
    )  # 19,992


def test_body_over_the_limit_is_refused_from_its_content_length(server: ServerProcess) -> None:
    """413 before the body is read: the server answers while the client has sent only headers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after its answer
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and "body_too_large" in reply and "4,194,304" in reply


def test_chunked_body_over_the_limit_is_cut_off(server: ServerProcess) -> None:
    def chunks():  # noqa: ANN202
        yield b'{"texts": ["'
        for _ in range(80):
            yield b"a" * 65536
        yield b'"]}'

    r = httpx.post(f"{server.url}/predict", content=chunks(), headers=JSON)
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_unknown_route_and_wrong_method(server: ServerProcess) -> None:
    missing = httpx.get(f"{server.url}/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = httpx.get(f"{server.url}/predict")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_texts_are_never_logged(server: ServerProcess) -> None:
    secret = "my-very-private-review-text-9f2c"
    httpx.post(f"{server.url}/predict", json={"text": secret})
    httpx.post(
        f"{server.url}/predict", json={"texts": [secret, ""]}
    )  # a 422 names the field, not the text
    assert secret not in server.logs()


@pytest.mark.serial  # waits at most 2 s for the access log
def test_probes_and_scrapes_stay_out_of_the_info_log(server: ServerProcess) -> None:
    marker = "probe-marker-7d1e"
    for route in ("/healthz", "/readyz", "/metrics"):
        httpx.get(f"{server.url}{route}", headers={"X-Request-ID": marker})
    httpx.post(
        f"{server.url}/predict", json={"text": "good"}, headers={"X-Request-ID": marker + "-p"}
    )
    for _ in range(100):  # the access log is written by a background thread
        logged = [line for line in server.logs().splitlines() if marker in line]
        if logged:
            break
        time.sleep(0.02)
    assert len(logged) == 1 and '"route": "/predict"' in logged[0]
