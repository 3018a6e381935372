"""uvicorn's HTTP protocol with a deadline for request headers.

uvicorn times out an idle keep-alive connection only after a response: a connection that
sends nothing, or its headers a byte at a time (slowloris), stays open for good and holds one
of the worker's `max_connections`; enough of them and every client gets 503. Here the headers
of every request must arrive within SENTIMENT_READ_TIMEOUT_S of its first byte (of the
connection, for the first request), or the connection is closed. The body has the same
deadline, enforced with a 408 by service.http.asgi.read_body.

The protocol reads the timeout from get_settings(): worker processes read their settings from
the environment, and service.cli puts the flags there first.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import get_settings


class HeaderDeadlineProtocol(HttpToolsProtocol):
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a later request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(
            get_settings().read_timeout_s, self._headers_too_late
        )

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
