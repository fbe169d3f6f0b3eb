"""The service's connections: uvicorn's h11 protocol with a header deadline and a cap.

uvicorn (0.54) has no time limit on a request's headers: a client that opens a
connection and sends a byte now and then holds it for ever, and nothing bounds how many
such connections the server keeps. This protocol

- closes a connection whose request headers are not complete ``header_timeout`` seconds
  after its first byte (or after it opened): a 408 problem if it had sent something;
- keeps at most ``max_connections`` open: a new connection beyond the cap takes the
  place of the oldest one that is not in the middle of a request (still sending its
  headers, or idle between keep-alive requests); only when every open connection is
  inside a request is the newcomer refused, with a 503.

So a flood of slow or idle connections cannot starve a real client (its connection
evicts one of them, and its headers arrive at once), and the server holds a bounded
number of sockets. Bodies have their own deadline, in :class:`graphgrad.service.app.BodyLimit`.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0
MAX_CONNECTIONS = 512


def _raw_problem(status: int, reason: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response, written to a connection that is about to be closed."""
    body = json.dumps({"type": "about:blank", "title": reason, "status": status, "detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a connection cap (see module)."""

    header_timeout: float = HEADER_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    counts: dict[str, int]
    quiet: OrderedDict[GuardedH11Protocol, None]
    """The open connections not inside a request, the longest quiet first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._partial = False

    # the cap

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections and not self._evict_one():
            self._refused = True
            self.counts["refused"] += 1
            detail = f"the server holds {self.max_connections} connections, all inside a request"
            transport.write(_raw_problem(503, "Service Unavailable", detail))
            transport.close()
            return
        super().connection_made(transport)
        self.counts["open"] += 1
        self._arm()

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest without being inside a request."""
        while self.quiet:
            oldest, _ = self.quiet.popitem(last=False)
            if oldest.transport is not None and not oldest.transport.is_closing():
                self.counts["evicted"] += 1
                oldest._close(408 if oldest._partial else None)
                self.connections.discard(oldest)
                return True
        return False

    # the header deadline

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        before = self.cycle
        if self._between_requests() and self._timer is None:
            self._arm()  # the first byte of a keep-alive connection's next request
        self._partial = True
        super().data_received(data)
        if self.cycle is not before:  # the headers are complete: a request has begun
            self._disarm()
            self._partial = False
            self.quiet.pop(self, None)

    def on_response_complete(self) -> None:
        before = self.cycle
        super().on_response_complete()
        if self.cycle is not before:  # a pipelined request began at once
            self._disarm()
        elif not self.transport.is_closing():
            self.quiet[self] = None
            self.quiet.move_to_end(self)

    def _arm(self) -> None:
        self._disarm()
        if self.cycle is None:  # a new connection: quiet until its headers are complete
            self.quiet[self] = None
        self._timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        if self._between_requests() and not self.transport.is_closing():
            self.counts["header_timeouts"] += 1
            self._close(408 if self._partial else None)

    def _close(self, status: int | None) -> None:
        self._disarm()
        if status is not None:
            detail = f"the request headers did not arrive within {self.header_timeout:g} s"
            self.transport.write(_raw_problem(status, "Request Timeout", detail))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        self.quiet.pop(self, None)
        self.counts["open"] -= 1
        super().connection_lost(exc)


def guarded_protocol(
    header_timeout: float = HEADER_TIMEOUT, max_connections: int = MAX_CONNECTIONS
) -> type[GuardedH11Protocol]:
    """A protocol class for ``uvicorn.run(http=...)`` with these limits and its own counts."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {
            "header_timeout": header_timeout,
            "max_connections": max_connections,
            "counts": {"open": 0, "evicted": 0, "refused": 0, "header_timeouts": 0},
            "quiet": OrderedDict(),
        },
    )
