"""One pure-ASGI middleware around every request: request id, body size limit, timing header,
metrics and the access log line. (Starlette's BaseHTTPMiddleware would cost a task per request.)"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.http.errors import error_response

access_log = logging.getLogger("service.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Probes and scrapes arrive every few seconds from every orchestrator and Prometheus: logged at
# debug, so that the info log is about traffic.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


class BodyTooLarge(Exception):
    pass


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, routes: frozenset[str]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.routes = routes  # the paths the app serves (service.http.routes.paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        # 128 random bits, as uuid4 has, without its os.urandom() system call per request.
        request_id = given if _REQUEST_ID.match(given) else f"{random.getrandbits(128):032x}"
        scope.setdefault("state", {})["request_id"] = request_id
        route = scope["path"] if scope["path"] in self.routes else "other"
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                total_ms = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    (b"x-total-time", f"{total_ms:.2f}".encode()),
                ]
            await send(message)

        try:
            length = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        try:
            if length > self.max_body_bytes:  # refused before any of the body is read
                raise BodyTooLarge
            await self.app(scope, self._limited(receive), send_with_headers)
        except BodyTooLarge:
            if response_started:
                raise
            message = (
                f"the body is larger than {self.max_body_bytes:,} bytes (SENTIMENT_MAX_BODY_BYTES)"
            )
            response = error_response(
                413, "body_too_large", message, headers={"Connection": "close"}
            )
            await response(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            metrics.REQUESTS.labels(route, str(status)).inc()
            metrics.REQUEST_DURATION.labels(route).observe(seconds)
            self._log(scope, request_id, route, status, seconds)

    def _limited(self, receive: Receive) -> Receive:
        """receive(), failing once more than max_body_bytes have arrived (chunked bodies)."""
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        return limited

    @staticmethod
    def _log(scope: Scope, request_id: str, route: str, status: int, seconds: float) -> None:
        level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
        if not access_log.isEnabledFor(level):
            return
        state: dict[str, Any] = scope.get("state", {})
        fields = {
            "request_id": request_id,
            "method": scope["method"],
            "route": route,
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
        }
        for key in ("texts", "batch_size", "error"):
            if key in state:
                fields[key] = state[key]
        access_log.log(level, "request", extra={"fields": fields})
