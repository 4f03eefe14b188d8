"""Oversize bodies against the live server: a JSON 413, early, without the server reading the body whole."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.live import LiveServer
from tests.robustness.live import exchange

MIB = 1024 * 1024
CHUNKED_TOTAL = 50 * MIB
CHUNK = 64 * 1024
LIMIT = 64 * 1024  # MAX_BODY_BYTES default
CHUNKED_HEAD = (
    b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def chunked(total: int) -> Iterator[bytes]:
    """`total` bytes of a JSON-ish body in HTTP/1.1 chunked framing, produced lazily (never held whole)."""
    piece = b"a" * CHUNK
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    for _ in range(total // CHUNK):
        yield frame
    yield b"0\r\n\r\n"


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()


def test_declared_oversize_body_is_refused_before_it_is_sent(server: LiveServer) -> None:
    head = (
        f"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {CHUNKED_TOTAL}\r\n\r\n"
    ).encode()

    answer = exchange(server.port, head, (b"a" * CHUNK for _ in range(CHUNKED_TOTAL // CHUNK)))

    print(f"declared: 413 after {answer.bytes_sent} of {CHUNKED_TOTAL} bytes")
    assert answer.status == 413
    assert json.loads(answer.body) == {"detail": f"Request body larger than {LIMIT} bytes"}
    assert answer.bytes_sent < CHUNKED_TOTAL // 5, answer.bytes_sent
    assert server.answers_health()


def test_chunked_50_mb_upload_is_cut_off_early_and_memory_stays_flat(server: LiveServer) -> None:
    head = CHUNKED_HEAD
    rss_before = server.rss_kib()

    answer = exchange(server.port, head, chunked(CHUNKED_TOTAL))

    rss_after = server.rss_kib()
    print(f"chunked: 413 after {answer.bytes_sent} of {CHUNKED_TOTAL} bytes; RSS {rss_before} -> {rss_after} KiB")
    assert answer.status == 413
    assert json.loads(answer.body) == {"detail": f"Request body larger than {LIMIT} bytes"}
    # The client is stopped by the answer long before the end; what it managed to
    # send sat in the kernel's socket buffers, not in the server's memory.
    assert answer.bytes_sent < CHUNKED_TOTAL // 5, answer.bytes_sent
    assert rss_after - rss_before < 5 * 1024
    assert server.answers_health()


def test_many_oversize_uploads_leave_memory_flat(server: LiveServer) -> None:
    head = CHUNKED_HEAD
    exchange(server.port, head, chunked(4 * MIB))  # warm-up: first-use allocations
    rss_before = server.rss_kib()

    statuses = [exchange(server.port, head, chunked(4 * MIB)).status for _ in range(50)]

    rss_after = server.rss_kib()
    print(f"50 chunked 4 MiB uploads: RSS {rss_before} -> {rss_after} KiB")
    assert statuses == [413] * 50
    assert rss_after - rss_before < 5 * 1024
