"""HTTP/1.1 protocol for uvicorn: its httptools protocol, plus limits on the request head and body time.

uvicorn enforces a head size limit with h11 only; with httptools (the fast
parser we ship) it buffers a header of any size, accepts any number of headers
and waits forever for a head or a body that never ends. This subclass adds,
while the head is parsed and before anything is buffered beyond the limit:

- MAX_HEADER_BYTES: request line + headers; over it, 431 and the connection closes;
- MAX_HEADERS: header fields; over it, 431 and close;
- HEADER_TIMEOUT: a head not complete this long after the connection opened
  (or after its first byte, on a kept-alive connection) gets 408 and is
  closed; a connection that sent nothing is closed silently;
- BODY_TIMEOUT: a body not complete this long after its head gets 408 and
  close (unless the application already answered), so slow uploads cannot
  hold the MAX_CONCURRENT_REQUESTS slots for ever.

These answers leave before any ASGI application runs, so they are written
here, as JSON with a "detail" like every other error; uvicorn's plain-text 400
for unparseable requests becomes JSON the same way. They carry no X-Request-ID
(no request exists yet) and are logged as `request_head_refused` (408 at info
level, the others at warning).

uvicorn builds one protocol object per connection, calling the configured class
with keyword arguments only; `protocol_factory` binds the limits with
functools.partial, which also pickles into worker processes (WORKERS > 1).
The uvicorn internals relied on (the callbacks, `send_400_response`,
`self.cycle`, `self.transport`) are pinned by tests/protocol/.
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
from dataclasses import dataclass
from typing import Any, cast

import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from service.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ProtocolLimits:
    """Defaults are the settings' defaults (tests/robustness/test_head_limits.py checks they agree)."""

    max_head_bytes: int = 16 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ProtocolLimits:
        return cls(
            max_head_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout=settings.header_timeout,
            body_timeout=settings.body_timeout,
        )


class _HeadRefused(Exception):
    """Raised inside a parser callback to stop the parser; the answer is already decided."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """httptools with ProtocolLimits; plain uvicorn takes it as `--http service.protocol:LimitedHttpToolsProtocol`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ProtocolLimits = ProtocolLimits(),
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        # Per request head: bytes fed so far, complete header fields, the timer.
        self._reading_head = True
        self._head_bytes = 0
        self._header_count = 0
        self._head_timer: asyncio.TimerHandle | None = None
        # Per request body: set from the end of its head until its last byte.
        self._awaiting_body = False
        self._body_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str, str] | None = None  # status, detail, reason for the log

    # Connection lifecycle

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        room = self.limits.max_head_bytes - self._head_bytes
        if not self._reading_head or len(data) <= room:
            if self._reading_head:
                self._head_bytes += len(data)
            super().data_received(data)
        else:
            # Feed only what the limit allows: if the head ends in there, the
            # rest is body (or the next request) and goes on as usual.
            self._head_bytes += room
            super().data_received(data[:room])
            if self.transport.is_closing():
                return
            if self._reading_head:
                detail = f"Request line and headers larger than {self.limits.max_head_bytes} bytes"
                self._refuse(431, detail, "head_too_large")
                return
            self.data_received(data[room:])
            return
        # A body still to come after this read: it gets BODY_TIMEOUT (one timer
        # per request with a body; requests without one never start it).
        if self._awaiting_body and self._body_timer is None and not self.transport.is_closing():
            self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    # Parser callbacks (called by httptools from inside data_received)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The first byte of a head: it must be complete within the timeout.
        if self._head_timer is None:
            self._start_head_timer()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = (431, f"More than {self.limits.max_headers} header fields", "too_many_headers")
            raise _HeadRefused  # httptools stops parsing; uvicorn then calls send_400_response
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._header_count = 0
        self._cancel_head_timer()
        self._awaiting_body = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        self._cancel_body_timer()
        super().on_message_complete()
        # What follows on this connection is the next request's head.
        self._reading_head = True

    # Answers

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 (uvicorn's text; the client gets ours)
        # uvicorn's answer to a parser error, plain text there; also how a
        # callback's refusal (too many headers) gets out of the parser.
        status, detail, reason = self._refusal or (400, "Invalid HTTP request", "invalid_request")
        self._refuse(status, detail, reason)

    def _refuse(self, status: int, detail: str, reason: str) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        if self.transport.is_closing():
            return
        client = self.client[0] if self.client else None
        # A stalled request may be a bad mobile link; an oversized or garbled one is a broken or hostile client.
        if status == 408:
            log.info("request_head_refused", status=status, reason=reason, client=client)
        else:
            log.warning("request_head_refused", status=status, reason=reason, client=client)
        body = json.dumps({"detail": detail}).encode()
        head = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    # Header timeout

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A response is still being written (the late head is pipelined
            # behind it): let it finish, then close instead of reading on.
            self.cycle.keep_alive = False
            return
        if self._head_bytes == 0:
            log.debug("idle_connection_closed", client=self.client[0] if self.client else None)
            self.transport.close()
            return
        self._refuse(408, f"Request head not received within {self.limits.header_timeout:g} s", "head_timeout")

    # Body timeout

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or not self._awaiting_body:
            return
        if self.cycle is not None and self.cycle.response_complete:
            # Answered without reading it all (a 401, say); nobody waits for the rest.
            self.transport.close()
            return
        if self.cycle is not None and self.cycle.response_started:
            return  # an answer is being written; it ends the exchange itself
        # The application sees the client disconnect (connection_lost) and its task ends.
        self._refuse(408, f"Request body not received within {self.limits.body_timeout:g} s", "body_timeout")


def protocol_factory(limits: ProtocolLimits) -> type[asyncio.Protocol]:
    """What to pass as uvicorn's `http=`: the protocol class with `limits` bound.

    Typed as a class because that is what uvicorn's signature names; uvicorn
    only ever calls it with keyword arguments (server.py, create_protocol).
    """
    return cast(type[asyncio.Protocol], functools.partial(LimitedHttpToolsProtocol, limits=limits))
