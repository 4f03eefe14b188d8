"""Hostile request heads against the live server: refused at once with a JSON 431, without buffering them.

These also pin the uvicorn internals service/protocol.py builds on (its
callbacks, send_400_response): an upgrade that changes them fails here.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.protocol import ProtocolLimits
from service.settings import Settings
from tests.live import LiveServer
from tests.robustness.live import RawExchange, exchange
from tests.robustness.memory import PeakWatch

MIB = 1024 * 1024
HUGE_HEADER = 64 * MIB
PIECE = 64 * 1024
LIMIT = 16 * 1024  # MAX_HEADER_BYTES default
TOO_LARGE = {"detail": f"Request line and headers larger than {LIMIT} bytes"}
MEMORY_BOUND_KIB = 5 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("heads")
    (workdir / "models").mkdir()
    running = LiveServer(workdir).wait_until_healthy()
    yield running
    running.stop()


def assert_refused(answer: RawExchange, status: int, body: dict[str, str]) -> None:
    assert answer.status == status
    assert json.loads(answer.body) == body


def head_of(size: int, *, method: str = "GET", path: str = "/health") -> bytes:
    """A complete request head of exactly `size` bytes (padding in one header)."""
    start = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Pad: ".encode()
    end = b"\r\n\r\n"
    return start + b"p" * (size - len(start) - len(end)) + end


def test_64_mib_header_is_refused_before_the_client_sent_it_and_memory_stays_flat(server: LiveServer) -> None:
    exchange(server.port, head_of(LIMIT + 1), [])  # warm-up: first-use allocations of the refusal path
    peak = PeakWatch(server.process.pid)
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    started = time.perf_counter()

    answer = exchange(server.port, head, (b"a" * PIECE for _ in range(HUGE_HEADER // PIECE)))

    seconds = time.perf_counter() - started  # printed for docs/robustness.md, never asserted
    growth = peak.growth_kib()
    print(
        f"64 MiB header: {answer.status} after {answer.bytes_sent} of {HUGE_HEADER} bytes, {seconds:.3f} s; "
        f"peak RSS +{growth} KiB"
    )
    assert_refused(answer, 431, TOO_LARGE)
    # What the client got out before the answer sat in loopback's socket buffers.
    assert answer.bytes_sent < HUGE_HEADER // 8, answer.bytes_sent
    assert growth < MEMORY_BOUND_KIB
    assert server.answers_health()


def test_20000_headers_are_refused_and_memory_stays_flat(server: LiveServer) -> None:
    peak = PeakWatch(server.process.pid)
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(20_000))

    started = time.perf_counter()

    answer = exchange(server.port, head + b"\r\n", [])

    seconds = time.perf_counter() - started  # printed for docs/robustness.md, never asserted
    growth = peak.growth_kib()
    print(f"20,000 headers ({len(head)} bytes): {answer.status} after {seconds:.3f} s; peak RSS +{growth} KiB")
    assert answer.status == 431
    assert growth < MEMORY_BOUND_KIB
    assert server.answers_health()


def test_a_1_mib_request_line_is_refused_with_json(server: LiveServer) -> None:
    answer = exchange(server.port, b"GET /" + b"a" * MIB + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", [])

    assert_refused(answer, 431, TOO_LARGE)


def test_a_head_of_exactly_the_limit_is_served_and_one_byte_more_is_refused(server: LiveServer) -> None:
    assert exchange(server.port, head_of(LIMIT), []).status == 200
    assert_refused(exchange(server.port, head_of(LIMIT + 1), []), 431, TOO_LARGE)


def test_100_header_fields_are_served_and_101_are_refused(server: LiveServer) -> None:
    def with_fields(count: int) -> bytes:
        # Host and Connection are two of them.
        extra = b"".join(b"X-F%d: v\r\n" % n for n in range(count - 2))
        return b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + b"\r\n"

    assert exchange(server.port, with_fields(100), []).status == 200
    assert_refused(exchange(server.port, with_fields(101), []), 431, {"detail": "More than 100 header fields"})


def test_a_body_arriving_with_the_head_is_not_counted_as_head(server: LiveServer) -> None:
    body = json.dumps({"title": "sent with its head", "description": "d" * 2000}).encode()
    head = head_of(LIMIT - 200, method="POST", path="/tasks")
    head = head.replace(
        b"\r\n\r\n", f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode(), 1
    )
    assert len(head) <= LIMIT < len(head) + len(body)  # one write crosses the limit: the split path

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(head + body)
        reply = connection.makefile("rb").read()

    assert reply.startswith(b"HTTP/1.1 201 ")


def test_an_unparseable_request_gets_json_400_not_plain_text(server: LiveServer) -> None:
    answer = exchange(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\x00: x\r\n\r\n", [])

    assert_refused(answer, 400, {"detail": "Invalid HTTP request"})


def test_protocol_defaults_are_the_settings_defaults() -> None:
    assert ProtocolLimits() == ProtocolLimits.from_settings(Settings(_env_file=None))


def test_limits_hold_with_several_worker_processes(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    server = LiveServer(tmp_path, WORKERS="2", MAX_HEADER_BYTES="4096").wait_until_healthy()
    try:
        answers = [exchange(server.port, head_of(4097), []) for _ in range(4)]
    finally:
        server.stop()

    assert {answer.status for answer in answers} == {431}


UVICORN = (sys.executable, "-m", "uvicorn", "service.main:app", "--host", "127.0.0.1", "--port", "{port}")


def test_plain_uvicorn_gets_the_limits_with_the_http_option(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    command = (*UVICORN, "--http", "service.protocol:LimitedHttpToolsProtocol")
    server = LiveServer(tmp_path, command=command).wait_until_healthy()
    try:
        answer = exchange(server.port, head_of(LIMIT + 1), [])
    finally:
        server.stop()

    assert_refused(answer, 431, TOO_LARGE)


def test_plain_uvicorn_without_it_reads_a_1_mib_header_whole(tmp_path: Path) -> None:
    """What the README warns about: uvicorn's own httptools protocol has no head limit."""
    (tmp_path / "models").mkdir()
    server = LiveServer(tmp_path, command=UVICORN).wait_until_healthy()
    try:
        response = httpx.get(f"{server.base_url}/health", headers={"X-Big": "a" * MIB}, timeout=30)
    finally:
        server.stop()

    assert response.status_code == 200
