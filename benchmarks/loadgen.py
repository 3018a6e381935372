"""A closed-loop HTTP load generator: N keep-alive connections, each sending POST /predict and
waiting for the answer before the next, for a fixed time.

It speaks just enough HTTP/1.1 over asyncio streams to be cheap: the load generator shares the
machine with the server, and every CPU cycle it spends is one the server does not get. Request
bodies are encoded once, before the clock starts.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    requests: int
    texts: int
    errors: int
    statuses: dict[int, int]
    latencies_ms: np.ndarray
    sent_at: np.ndarray  # time.perf_counter() when each answered request was sent

    def summary(self) -> dict[str, float | int | dict[int, int]]:
        lat = self.latencies_ms if self.latencies_ms.size else np.array([float("nan")])
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "requests": self.requests,
            "errors": self.errors,
            "statuses": self.statuses,
            "requests_per_s": self.requests / self.seconds,
            "texts_per_s": self.texts / self.seconds,
            "p50_ms": float(np.percentile(lat, 50)),
            "p95_ms": float(np.percentile(lat, 95)),
            "p99_ms": float(np.percentile(lat, 99)),
        }


def encode_requests(host: str, port: int, path: str, texts: Sequence[str]) -> list[bytes]:
    """One pre-built HTTP request per text: {"text": ...}."""
    out = []
    for text in texts:
        body = json.dumps({"text": text}).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        out.append(head.encode() + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    if length:
        await reader.readexactly(length)
    return status


async def _user(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    stop_at: float,
    latencies: list[float],
    statuses: dict[int, int],
    timeout: float,
    sent_at: list[float],
    stop: threading.Event | None = None,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < stop_at and not (stop is not None and stop.is_set()):
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            try:
                status = await asyncio.wait_for(_read_response(reader), timeout)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                statuses[0] = statuses.get(0, 0) + 1  # 0: no answer
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if time.perf_counter() <= stop_at:  # count only answers that arrive inside the window
                latencies.append((time.perf_counter() - started) * 1000)
                sent_at.append(started)
                statuses[status] = statuses.get(status, 0) + 1
            i += 1
    finally:
        writer.close()


async def run_load(
    host: str,
    port: int,
    requests: list[bytes],
    concurrency: int,
    seconds: float,
    timeout: float = 60.0,
    stop: threading.Event | None = None,
) -> LoadResult:
    """The load for `seconds`, or until `stop` is set."""
    latencies: list[float] = []
    sent_at: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds
    users = [
        _user(
            host,
            port,
            requests,
            k * len(requests) // concurrency,
            stop_at,
            latencies,
            statuses,
            timeout,
            sent_at,
            stop,
        )
        for k in range(concurrency)
    ]
    await asyncio.gather(*users)
    ok = statuses.get(200, 0)
    errors = sum(n for code, n in statuses.items() if code != 200)
    return LoadResult(
        concurrency,
        seconds,
        ok + errors,
        ok,
        errors,
        statuses,
        np.array(latencies),
        np.array(sent_at),
    )


def load(
    host: str,
    port: int,
    requests: list[bytes],
    concurrency: int,
    seconds: float,
    stop: threading.Event | None = None,
) -> LoadResult:
    """run_load() on an event loop of its own (uvloop where installed)."""
    work = run_load(host, port, requests, concurrency, seconds, stop=stop)
    try:
        import uvloop

        return uvloop.run(work)
    except ImportError:
        return asyncio.run(work)
