"""Slow and greedy clients against the live server: heads that never end are closed, bursts are shed with 503.

HEADER_TIMEOUT is set short here; the assertions are about what happens
(closed, 408, served, 503), never how fast: the hang guards only catch a hang.
"""

from __future__ import annotations

import json
import resource
import selectors
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import cast

import httpx
import pytest

from tests.live import LiveServer
from tests.robustness.memory import PeakWatch

StartServer = Callable[..., LiveServer]
HALF_HEAD = b"GET /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Partial: "
SLOW_CLIENTS = 1000
HANG_GUARD = 60.0
MEMORY_BOUND_KIB = 50 * 1024


def read_until_closed(connection: socket.socket, timeout: float = HANG_GUARD) -> bytes:
    connection.settimeout(timeout)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


@pytest.fixture
def enough_file_descriptors() -> None:
    """This test and the server (which inherits the limit) each hold SLOW_CLIENTS sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * SLOW_CLIENTS
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


class SteadyClient:
    """A well-behaved client on its own keep-alive connection: GET /health and /tasks in turn until stopped."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.served_at: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            for number in range(10_000):  # bounded; stop() ends it long before
                if self._stop.is_set():
                    return
                try:
                    response = client.get("/health" if number % 2 else "/tasks")
                except httpx.TransportError as exc:
                    self.errors[type(exc).__name__] += 1
                else:
                    self.statuses[response.status_code] += 1
                    self.served_at.append(time.monotonic())
                time.sleep(0.02)

    def __enter__(self) -> SteadyClient:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_1000_half_sent_heads_are_closed_after_the_timeout_while_a_normal_client_is_served(
    start_server: StartServer, enough_file_descriptors: None
) -> None:
    server = start_server(HEADER_TIMEOUT="3")
    peak = PeakWatch(server.process.pid)
    selector = selectors.DefaultSelector()
    answers: dict[socket.socket, bytes] = {}
    closed_after: list[float] = []

    with SteadyClient(server.base_url) as steady:
        started = time.monotonic()
        for _ in range(SLOW_CLIENTS):
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            connection.sendall(HALF_HEAD)
            connection.setblocking(False)
            selector.register(connection, selectors.EVENT_READ)
            answers[connection] = b""
        all_sent = time.monotonic()
        open_connections = set(answers)
        deadline = all_sent + HANG_GUARD
        first_closed: float | None = None
        while open_connections and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                ready = cast(socket.socket, key.fileobj)
                try:
                    chunk = ready.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    answers[ready] += chunk
                    continue
                selector.unregister(ready)
                open_connections.discard(ready)
                closed_after.append(time.monotonic() - started)
                first_closed = first_closed or time.monotonic()
        served_while_held = [at for at in steady.served_at if all_sent <= at <= (first_closed or deadline)]
    growth = peak.growth_kib()
    for connection in answers:
        connection.close()

    statuses = Counter(answer.split(b" ", 2)[1] if answer else b"none" for answer in answers.values())
    print(
        f"{SLOW_CLIENTS} half-sent heads (HEADER_TIMEOUT 3 s): opened in {all_sent - started:.2f} s, "
        f"closed {min(closed_after, default=0):.2f}-{max(closed_after, default=0):.2f} s after the first opened, "
        f"answers {dict(statuses)}; steady client {dict(steady.statuses)} errors {dict(steady.errors)}, "
        f"{len(served_while_held)} served while all heads were held; peak RSS +{growth} KiB"
    )
    assert not open_connections, f"{len(open_connections)} connections still open after {HANG_GUARD} s"
    assert statuses == {b"408": SLOW_CLIENTS}
    body = json.loads(next(iter(answers.values())).partition(b"\r\n\r\n")[2])
    assert body == {"detail": "Request head not received within 3 s"}
    assert steady.errors == {}
    assert set(steady.statuses) == {200}
    assert served_while_held, "the normal client got no answer while the heads were held"
    assert growth < MEMORY_BOUND_KIB
    assert server.answers_health()


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(start_server: StartServer) -> None:
    server = start_server(HEADER_TIMEOUT="1")

    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        received = read_until_closed(connection)

    assert received == b""  # closed without a word: there was no request to answer


def test_a_half_sent_head_on_a_kept_alive_connection_gets_408(start_server: StartServer) -> None:
    server = start_server(HEADER_TIMEOUT="1")

    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += connection.recv(65536)
        connection.sendall(HALF_HEAD)
        rest = read_until_closed(connection)

    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest.startswith(b"HTTP/1.1 408 ")


def test_a_head_sent_slowly_but_within_the_timeout_is_served(start_server: StartServer) -> None:
    server = start_server(HEADER_TIMEOUT="5")
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        for offset in range(0, len(head), 8):
            connection.sendall(head[offset : offset + 8])
            time.sleep(0.05)
        reply = read_until_closed(connection)

    assert reply.startswith(b"HTTP/1.1 200 ")


MODEL_BYTES = 256 * 1024**2  # hashing takes longer than HEADER_TIMEOUT=0.1 s


@pytest.fixture
def big_model(workdir: Path) -> Path:
    """A 256 MiB sparse model: hashing it keeps a request busy for a second or more."""
    model = workdir / "models" / "big.bin"
    with model.open("wb") as stream:
        stream.truncate(MODEL_BYTES)
    return model


def test_a_request_running_longer_than_the_header_timeout_is_not_cut(
    start_server: StartServer, big_model: Path
) -> None:
    server = start_server(HEADER_TIMEOUT="0.1")

    response = httpx.get(f"{server.base_url}/models/{big_model.name}", timeout=HANG_GUARD)

    assert response.status_code == 200
    assert response.json()["size_bytes"] == MODEL_BYTES


def slow_upload(port: int, body: bytes) -> socket.socket:
    """A POST /tasks whose head is complete and whose body is held back: a request in flight until it is sent."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD)
    head = (
        f"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    connection.sendall(head.encode() + body[:5])
    return connection


def test_a_body_not_sent_within_body_timeout_gets_408_and_close(workdir: Path) -> None:
    server = LiveServer(workdir, BODY_TIMEOUT="1").wait_until_healthy()
    try:
        with slow_upload(server.port, b'{"title": "never finished"}') as connection:
            reply = read_until_closed(connection)
        stored = httpx.get(f"{server.base_url}/tasks").json()["total"]
    finally:
        exit_code, output = server.stop()

    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body) == {"detail": "Request body not received within 1 s"}
    assert stored == 0
    # The application saw a client that went away: no error, no traceback.
    assert exit_code == 0
    assert '"level": "error"' not in output, output


def test_requests_past_max_concurrent_requests_get_503_while_probes_answer(start_server: StartServer) -> None:
    server = start_server(MAX_CONCURRENT_REQUESTS="2")
    body = b'{"title": "uploaded slowly"}'
    uploads = [slow_upload(server.port, body) for _ in range(2)]
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        # The two uploads are in flight once the server has read their heads: wait for that, boundedly.
        for _ in range(500):
            refused = client.get("/tasks")
            if refused.status_code == 503:
                break
            time.sleep(0.01)
        probes = [client.get(path).status_code for path in ("/health", "/ready")]
        for upload in uploads:
            upload.sendall(body[5:])
        finished = [read_until_closed(upload).split(b" ", 2)[1] for upload in uploads]
        after = client.get("/tasks")
    for upload in uploads:
        upload.close()

    assert refused.status_code == 503
    assert refused.json() == {"detail": "Server busy; retry later"}
    assert refused.headers["retry-after"] == "1"
    assert "x-request-id" in refused.headers
    assert probes == [200, 200]
    assert finished == [b"201", b"201"]
    assert after.status_code == 200
