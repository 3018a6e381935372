"""Clients that try to break the server: arbitrary JSON and text, slow and stuck bodies, too
many connections. Every answer is a 200 or a documented 4xx with the JSON error body, and the
server answers a plain request after each."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.server import ServerProcess

DOCUMENTED_4XX = {400, 408, 413, 415, 422}
JSON = {"content-type": "application/json"}

# Characters that have broken text pipelines: lone surrogates, controls, zero-width and bidi
# marks, combining marks, emoji with modifiers and joiners, and the whole of Unicode besides.
NASTY = st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\x1b", "\u200b", "\u200d", "\u202e", "\u2066", "\ufeff"]
    + ["\u0301", "\u0316", "😀", "👍🏽", "👨\u200d👩\u200d👧", "<br />", "!", "'", "(", " ", "\n"]
)
TEXTS = st.one_of(
    st.text(st.characters(codec=None), max_size=200),
    st.lists(NASTY, max_size=40).map("".join),
    st.tuples(NASTY | st.characters(), st.integers(1, 20_000)).map(lambda c: c[0] * c[1]),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXTS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXTS, children, max_size=4),
    max_leaves=12,
)
BODIES = st.one_of(
    TEXTS.map(lambda t: {"text": t}),
    st.lists(TEXTS, max_size=5).map(lambda ts: {"texts": ts}),
    JSON_VALUES,
    st.dictionaries(st.sampled_from(["text", "texts", "x"]), JSON_VALUES, max_size=3),
)


def check_answer(response: httpx.Response) -> None:
    assert response.status_code == 200 or response.status_code in DOCUMENTED_4XX, response.text
    body = response.json()
    if response.status_code == 200:
        assert "model_version" in body
    else:
        assert set(body) == {"error", "message", "field"} and body["message"], body


@pytest.mark.parallel
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES)
def test_any_json_gets_a_score_or_a_documented_error(server: ServerProcess, body: object) -> None:
    # ensure_ascii escapes lone surrogates as \\udXXX, as a client library would send them
    content = json.dumps(body, ensure_ascii=True).encode()
    check_answer(httpx.post(f"{server.url}/predict", content=content, headers=JSON))
    plain = httpx.post(f"{server.url}/predict", json={"text": "a plain review"}, timeout=10)
    assert plain.status_code == 200


@pytest.mark.parallel
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=300))
def test_any_bytes_get_a_documented_error(server: ServerProcess, raw: bytes) -> None:
    check_answer(httpx.post(f"{server.url}/predict", content=raw, headers=JSON))
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def send_headers(port: int, length: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {length}\r\n\r\n".encode()
    )
    return sock


def read_all(sock: socket.socket) -> str:
    reply = b""
    while chunk := sock.recv(65536):  # the server closes the connection after its answer
        reply += chunk
    return reply.decode()


@pytest.fixture(scope="module")
def strict_server(
    serving_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> ServerProcess:
    settings = {"read_timeout_s": 1, "max_connections": 8, "keep_alive_timeout_s": 1}
    with ServerProcess(serving_artifact, tmp_path_factory.mktemp("logs"), **settings) as process:
        yield process


def test_a_body_that_stops_gets_408(strict_server: ServerProcess) -> None:
    began = time.monotonic()
    with send_headers(strict_server.port, 1000) as sock:
        sock.sendall(b'{"text": "it starts')  # and never finishes
        reply = read_all(sock)
    assert reply.startswith("HTTP/1.1 408") and "body_timeout" in reply
    assert 0.9 < time.monotonic() - began < 5
    assert httpx.get(f"{strict_server.url}/healthz").status_code == 200


def test_a_trickling_body_gets_408(strict_server: ServerProcess) -> None:
    with send_headers(strict_server.port, 10_000) as sock:
        began = time.monotonic()
        reply = ""
        for _ in range(40):  # a byte every 0.1 s: each arrives in time, the whole does not
            try:
                sock.sendall(b" ")
            except OSError:
                break
            time.sleep(0.1)
        reply = read_all(sock)
    assert reply.startswith("HTTP/1.1 408") and time.monotonic() - began < 5


def test_connections_beyond_the_limit_get_503(strict_server: ServerProcess) -> None:
    held = [send_headers(strict_server.port, 100) for _ in range(12)]  # bodies never sent
    try:
        time.sleep(0.3)
        response = httpx.post(f"{strict_server.url}/predict", json={"text": "good"})
        assert response.status_code == 503
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the held connections end by their body timeout
        if httpx.post(f"{strict_server.url}/predict", json={"text": "good"}).status_code == 200:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the server did not recover after the held connections closed")


def test_connections_that_send_nothing_are_closed(strict_server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=10) as sock:
        began = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, having sent nothing
    assert 0.9 < time.monotonic() - began < 5


def test_headers_sent_a_byte_at_a_time_are_cut_off(strict_server: ServerProcess) -> None:
    request = b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=10) as sock:
        began = time.monotonic()
        closed = False
        for byte in request:  # slowloris: each byte in time, the headers never complete
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
        closed = closed or sock.recv(1) == b""
    assert closed and time.monotonic() - began < 5


def test_a_kept_alive_connection_gets_the_header_deadline_again(
    strict_server: ServerProcess,
) -> None:
    with httpx.Client(base_url=strict_server.url) as client:
        for _ in range(3):  # several requests on one connection, each well inside the deadline
            assert client.post("/predict", json={"text": "good"}).status_code == 200
            time.sleep(0.5)


def test_shutdown_is_bounded_with_a_stuck_client(serving_artifact: Path, tmp_path: Path) -> None:
    process = ServerProcess(serving_artifact, tmp_path, read_timeout_s=2, drain_timeout_s=10)
    with process:
        sock = send_headers(process.port, 1000)
        sock.sendall(b'{"text": "half')
        time.sleep(0.2)
        began = time.monotonic()
        assert process.stop(timeout=30) == 0
        assert time.monotonic() - began < 2 + 5 + 2  # body timeout, batcher stop, exit
        sock.close()
    assert "Application shutdown failed" not in process.logs()


@pytest.mark.parallel
def test_the_openapi_schema_tells_the_truth(server: ServerProcess) -> None:
    schema = httpx.get(f"{server.url}/openapi.json").json()
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain; version=0.0.4"]
    request = schema["components"]["schemas"]["PredictRequest"]
    text, texts = request["properties"]["text"], request["properties"]["texts"]
    assert text["minLength"] == 1 and text["maxLength"] == 20_000
    assert texts["minItems"] == 1 and texts["maxItems"] == 128
    assert texts["items"]["maxLength"] == 20_000 and texts["items"]["pattern"] == text["pattern"]
    assert request["oneOf"] == [{"required": ["text"]}, {"required": ["texts"]}]
    documented = set(schema["paths"]["/predict"]["post"]["responses"])
    assert {"200", "400", "401", "408", "413", "415", "422", "500", "503", "504"} <= documented
    assert "503" in schema["paths"]["/healthz"]["get"]["responses"]
