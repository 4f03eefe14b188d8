"""Raw HTTP for the drills (no client normalisation); the live server itself is tests/live.py."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class RawExchange:
    status: int
    body: bytes
    bytes_sent: int  # of the request body, before the server answered or hung up


def exchange(port: int, head: bytes, body: Iterable[bytes], *, timeout: float = 30.0) -> RawExchange:
    """Send `head` then the `body` pieces as given, reading all the while; stop sending once the server answers.

    No normalisation of any kind (paths go out byte for byte), and a server that
    answers early (413) is seen answering early, before the client sent everything.
    """
    deadline = time.monotonic() + timeout
    received = b""
    sent = 0
    pieces = iter(body)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(head)
        connection.setblocking(False)
        pending = next(pieces, None)
        while time.monotonic() < deadline:
            writers = [connection] if pending is not None and not received else []
            readable, writable, _ = select.select([connection], writers, [], 0.5)
            if readable:
                try:
                    chunk = connection.recv(1 << 20)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += chunk
            elif writable and pending is not None:
                try:
                    written = connection.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    pending = None
                    continue
                sent += written
                pending = pending[written:] or next(pieces, None)
        else:
            raise TimeoutError(f"no complete answer within {timeout} s (sent {sent} bytes)")
    response_head, _, response_body = received.partition(b"\r\n\r\n")
    return RawExchange(status=int(response_head.split(b" ", 2)[1]), body=response_body, bytes_sent=sent)


def get_raw_path(port: int, path: bytes) -> RawExchange:
    return exchange(port, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", [])


def send_body(port: int, path: str, body: bytes, content_type: str, *, method: str = "POST") -> tuple[int, bytes]:
    """`method path` with `body` and a Content-Length; an empty content_type sends no Content-Type header."""
    content_type_line = f"Content-Type: {content_type}\r\n" if content_type else ""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{content_type_line}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    pieces = (body[offset : offset + 65536] for offset in range(0, len(body), 65536))
    answer = exchange(port, head.encode(), pieces)
    return answer.status, answer.body
