"""The edge drills on the production image under compose's limits, and authentication in the image built with it.

Containers run as compose.yaml runs them: 256 MB and 1 CPU, read-only root,
tmpfs /tmp, no capabilities. Traffic goes to the port published on 127.0.0.1;
the issuer of the auth drill runs inside the container, on its own loopback.
"""

from __future__ import annotations

import json
import selectors
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

import httpx
import pytest

from tests.container.engine import Container, Docker
from tests.container.inside_issuer import ISSUER_URL, MIN_REFRESH_SECONDS, first_answer_with_keys, serve_issuer_inside
from tests.issuer import AUDIENCE, TestIssuer, bearer
from tests.robustness.live import exchange
from tests.robustness.memory import PeakWatch
from tests.robustness.test_slow_clients import HALF_HEAD, HANG_GUARD, SLOW_CLIENTS, SteadyClient

pytestmark = pytest.mark.container

MIB = 1024 * 1024
PIECE = 64 * 1024
COMPOSE_LIMITS = (
    "--memory", "256m", "--cpus", "1", "--read-only", "--tmpfs", "/tmp:size=64m,mode=1777",  # noqa: S108 (in the container)
    "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
)  # fmt: skip
# production's own layers (image minus python:3.12-alpine) built with EXTRAS=auth measured
# 75.30 MB on the stand-in bases (2026-12-02, with psycopg and alembic in the runtime; the
# extra alone adds ~14.6 MB): budget = that + 10%.
AUTH_PRODUCTION_OWN_LAYERS_BUDGET = 82_800_000


@pytest.fixture(scope="module")
def production(image: Callable[[str], str]) -> str:
    return image("production")


@pytest.fixture(scope="module")
def limited(docker: Docker, production: str) -> Container:
    # Removed with the session's other containers (Docker.cleanup).
    container = docker.start(production, *COMPOSE_LIMITS, "-v", f"{docker.volume()}:/data", "-e", "HEADER_TIMEOUT=3")
    container.wait_for_http()
    return container


def pid(container: Container) -> int:
    return int(container.inspect("{{.State.Pid}}"))


def port(container: Container) -> int:
    return int(container.base_url.rsplit(":", 1)[1])


def assert_still_running(container: Container) -> None:
    assert container.inspect("{{.State.Running}} {{.State.OOMKilled}} {{.RestartCount}}") == "true false 0"


def test_64_mib_header_and_20000_headers_are_refused_by_the_limited_container(limited: Container) -> None:
    peak = PeakWatch(pid(limited))
    huge = exchange(
        port(limited),
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ",
        (b"a" * PIECE for _ in range(64 * MIB // PIECE)),
    )
    many = exchange(
        port(limited),
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-H%d: v\r\n" % n for n in range(20_000)) + b"\r\n",
        [],
    )
    growth = peak.growth_kib()

    print(
        f"container: 64 MiB header {huge.status} after {huge.bytes_sent} bytes sent; "
        f"20,000 headers {many.status}; peak RSS +{growth} KiB"
    )
    assert huge.status == 431
    assert json.loads(huge.body) == {"detail": "Request line and headers larger than 16384 bytes"}
    # Docker's port proxy buffers a little on the way; still the client was stopped early.
    assert huge.bytes_sent < 64 * MIB // 4
    assert many.status == 431
    assert growth < 5 * 1024
    assert_still_running(limited)


def test_1000_half_sent_heads_are_closed_by_the_limited_container_while_a_client_is_served(
    limited: Container,
) -> None:
    peak = PeakWatch(pid(limited))
    selector = selectors.DefaultSelector()
    answers: dict[socket.socket, bytes] = {}
    with SteadyClient(limited.base_url) as steady:
        for _ in range(SLOW_CLIENTS):
            connection = socket.create_connection(("127.0.0.1", port(limited)), timeout=10)
            connection.sendall(HALF_HEAD)
            connection.setblocking(False)
            selector.register(connection, selectors.EVENT_READ)
            answers[connection] = b""
        all_sent = time.monotonic()
        open_connections = set(answers)
        while open_connections and time.monotonic() < all_sent + HANG_GUARD:
            for key, _ in selector.select(timeout=0.5):
                ready = cast(socket.socket, key.fileobj)
                try:
                    chunk = ready.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    answers[ready] += chunk
                else:
                    selector.unregister(ready)
                    open_connections.discard(ready)
        closed_after = time.monotonic() - all_sent
    growth = peak.growth_kib()
    for connection in answers:
        connection.close()

    statuses = Counter(answer.split(b" ", 2)[1] if answer else b"none" for answer in answers.values())
    print(
        f"container: {SLOW_CLIENTS} half-sent heads closed {closed_after:.2f} s after the last was sent, "
        f"answers {dict(statuses)}; steady client {dict(steady.statuses)} errors {dict(steady.errors)}; "
        f"peak RSS +{growth} KiB"
    )
    assert not open_connections
    assert statuses == {b"408": SLOW_CLIENTS}
    assert steady.errors == {}
    assert set(steady.statuses) == {200}
    assert growth < 50 * 1024
    assert_still_running(limited)


# Authentication in the image


def test_production_with_the_auth_extra_stays_within_its_size_budget(docker: Docker, production_with_auth: str) -> None:
    own = docker.image_size(production_with_auth) - docker.image_size("python:3.12-alpine")

    print(f"production with EXTRAS=auth adds {own / 1e6:.2f} MB to its base")
    assert own <= AUTH_PRODUCTION_OWN_LAYERS_BUDGET


def test_the_auth_image_verifies_tokens_from_an_issuer(docker: Docker, production_with_auth: str) -> None:
    # The keys and tokens are made here; only the public keys go into the container.
    issuer = TestIssuer(url=ISSUER_URL)  # never started here: it only mints the tokens
    container = docker.start(
        production_with_auth, *COMPOSE_LIMITS, "-v", f"{docker.volume()}:/data",
        "-e", f"AUTH_ISSUER={ISSUER_URL}", "-e", f"AUTH_AUDIENCE={AUDIENCE}",
        "-e", f"AUTH_JWKS_MIN_REFRESH_SECONDS={MIN_REFRESH_SECONDS}",
    )  # fmt: skip
    base_url = container.wait_for_http()
    serve_issuer_inside(container, issuer)
    reader = bearer(issuer.token(scope="tasks:read"))
    with httpx.Client(base_url=base_url, timeout=10) as client:
        # The warm-up fetch ran before the issuer was up: wait (boundedly) for a refetch to succeed.
        read = first_answer_with_keys(client, "/tasks", reader)
        anonymous = client.get("/tasks")
        write_with_read_scope = client.post("/tasks", json={"title": "t"}, headers=reader)
        written = client.post("/tasks", json={"title": "t"}, headers=bearer(issuer.token(scope="tasks:write")))
        probes = [client.get(path).status_code for path in ("/health", "/ready")]

    assert read.status_code == 200, read.text
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="task-api"'
    assert write_with_read_scope.status_code == 403
    assert written.status_code == 201
    assert probes == [200, 200]


def test_the_default_image_with_auth_issuer_set_stops_with_one_line(docker: Docker, production: str) -> None:
    container = docker.start(production, "-e", "AUTH_ISSUER=https://login.example.com/", "-e", "AUTH_AUDIENCE=api")

    exit_code = docker.run_cli("wait", container.id, timeout=60).stdout.strip()

    lines = container.logs().strip().splitlines()
    assert exit_code == "2"
    assert lines == [
        "error: AUTH_ISSUER: token verification needs the `auth` extra (PyJWT, cryptography): "
        "`uv sync --extra auth`, or build the image with --build-arg EXTRAS=auth"
    ]
