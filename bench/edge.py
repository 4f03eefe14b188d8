"""Edge costs, measured in the same run: the request-head protocol and bearer-token authentication.

Three servers on the database run.py seeded, each on the server core:

- `uvicorn`: plain `uvicorn service.main:app` with the settings `python -m
  service` gives uvicorn, so uvicorn's own httptools protocol: no head limits;
- `service`: `python -m service` (service/protocol.py's protocol), auth off;
- `service+auth`: the same with AUTH_ISSUER set to an issuer served from this
  process on 127.0.0.1 (tests/issuer.py: keys made at start, RS256 and ES256);
  its keys are fetched once at start-up, so every measured request verifies
  a token against a cached key.

Jobs, interleaved like the main throughput rounds: GET /health on the first
two (the protocol's cost), GET /tasks/{id} on all three, with an RS256 and an
ES256 token on the last (the cost of authentication). A client reuses its
token, so after the first request the service answers from its cache of
verified tokens; what one full verification costs (signature and claims,
cached key) is measured apart, in this process, over tokens never seen before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tests.issuer import AUDIENCE, SigningKey, TestIssuer, new_key

from bench import wrk
from bench.servers import UVICORN_SETTINGS, Server, free_port

if TYPE_CHECKING:
    from bench.run import Job, Results

PYTHON_M_SERVICE = ["-m", "service"]
UVICORN, SERVICE, AUTH = "edge:uvicorn", "edge:service", "edge:service+auth"
HEALTH = wrk.Endpoint("GET /health", "GET", "/health")
GET_TASK = wrk.Endpoint("GET /tasks/{id}", "GET", "/tasks/{id}")
TOKEN_LIFETIME = 3 * 3600  # outlasts the run
FRESH_TOKENS = 300  # per algorithm, for the uncached verification figure


def run(
    results: Results,
    *,
    python: str,
    root: Path,
    environment: Callable[[int], dict[str, str]],
    interleave: Callable[[Results, list[Job]], None],
) -> None:
    """Start the servers, measure, stop them; figures land in results.throughput under the names above."""
    rsa, ec = new_key("RS256"), new_key("ES256")
    with TestIssuer(rsa, ec) as issuer:
        servers = [
            _server(UVICORN, [python, "-m", "uvicorn", "service.main:app", "--host", "127.0.0.1", "--port", "{port}",
                              *UVICORN_SETTINGS], root, environment),
            _server(SERVICE, [python, *PYTHON_M_SERVICE], root, environment),
            _server(AUTH, [python, *PYTHON_M_SERVICE], root, environment,
                    AUTH_ISSUER=issuer.url, AUTH_AUDIENCE=AUDIENCE),
        ]  # fmt: skip
        uvicorn, service, auth = servers
        rs256 = f"Bearer {issuer.token(rsa, scope='tasks:read', lifetime=TOKEN_LIFETIME)}"
        es256 = f"Bearer {issuer.token(ec, scope='tasks:read', lifetime=TOKEN_LIFETIME)}"
        try:
            for server in servers:
                server.start()
            jobs: list[Job] = [
                (uvicorn, HEALTH),
                (service, HEALTH),
                (uvicorn, GET_TASK),
                (service, GET_TASK),
                (auth, wrk.Endpoint("GET /tasks/{id} RS256", "GET", "/tasks/{id}", authorization=rs256)),
                (auth, wrk.Endpoint("GET /tasks/{id} ES256", "GET", "/tasks/{id}", authorization=es256)),
            ]
            interleave(results, jobs)
        finally:
            for server in servers:
                server.stop(timeout=5)
        results.edge_verify_us = {key.algorithm: asyncio.run(_verification_us(issuer, key)) for key in (rsa, ec)}


async def _verification_us(issuer: TestIssuer, key: SigningKey) -> float:
    """Microseconds per verification of a token the verifier has not seen: the signature check every time."""
    from service.auth.keys import JwksCache  # noqa: PLC0415 (the auth extra; the dev group has it)
    from service.auth.tokens import JwtVerifier  # noqa: PLC0415

    keys = JwksCache(issuer=issuer.url, jwks_url=issuer.jwks_url, timeout=5, max_age=3600, min_refresh=10)
    verifier = JwtVerifier(keys=keys, issuer=issuer.url, audience=AUDIENCE, algorithms=(key.algorithm,), leeway=30)
    tokens = [issuer.token(key, scope="tasks:read", jti=str(number)) for number in range(FRESH_TOKENS + 1)]
    await verifier.verify(tokens[0])  # the key set is fetched and parsed once, outside the timing
    started = time.perf_counter()
    for token in tokens[1:]:
        await verifier.verify(token)
    return (time.perf_counter() - started) / FRESH_TOKENS * 1e6


def _server(
    name: str, argv: list[str], root: Path, environment: Callable[[int], dict[str, str]], **settings: str
) -> Server:
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in argv]  # "{port}": the one chosen here
    log = root / f"{name.replace(':', '-').replace('+', '-')}.log"
    return Server(name, argv, environment(port) | settings, log, port)


# --------------------------------------------------------------------------- report


def section(results: Results) -> list[str]:
    """The report's "Edge" section; empty when the phase did not run."""
    from bench.report import fmt, p50, p99, ratio, rps, table  # noqa: PLC0415 (report imports nothing from here)

    rows_spec = [
        (UVICORN, "GET /health", None),
        (SERVICE, "GET /health", (UVICORN, "GET /health")),
        (UVICORN, "GET /tasks/{id}", None),
        (SERVICE, "GET /tasks/{id}", (UVICORN, "GET /tasks/{id}")),
        (AUTH, "GET /tasks/{id} RS256", (SERVICE, "GET /tasks/{id}")),
        (AUTH, "GET /tasks/{id} ES256", (SERVICE, "GET /tasks/{id}")),
    ]
    if not results.throughput.get(rows_spec[0][:2]):
        return []
    rows = []
    for server, label, reference in rows_spec:
        value = rps(results, server, label)
        by = ratio(value, rps(results, *reference)) if reference else None
        rows.append(
            [
                server.removeprefix("edge:"),
                f"`{label}`",
                fmt(value),
                fmt(p50(results, server, label), ".2f"),
                fmt(p99(results, server, label), ".2f"),
                "—" if reference is None else f"{fmt(by, '.2f', 'x')} of {reference[0].removeprefix('edge:')}",
            ]
        )
    return [
        "",
        "## Edge: head limits and authentication",
        "",
        "Same rounds and wrk settings as the throughput table, on the same database. `uvicorn` is plain "
        "`uvicorn service.main:app` with the service's uvicorn settings: uvicorn's own httptools protocol, "
        "without the head limits and timeouts of `service/protocol.py`, which `service` (`python -m service`) "
        "has. `service+auth` adds AUTH_ISSUER (an issuer served on 127.0.0.1 by the benchmark; keys cached "
        "after start-up) and every request carries the same `tasks:read` token, as a client reuses its token: "
        "verified in full once, then from the service's cache of verified tokens (exp and the scope still "
        "checked on every request).",
        "",
        *table(["server", "endpoint", "req/s (median)", "p50 ms", "p99 ms", "ratio"], rows, right_from=2),
        *_verification_lines(results),
    ]


def _verification_lines(results: Results) -> list[str]:
    if not results.edge_verify_us:
        return []
    figures = ", ".join(f"{algorithm} {us:.0f} µs" for algorithm, us in results.edge_verify_us.items())
    return [
        f"One full verification of a token not seen before (signature with the cached key, exp, nbf, iss, aud; "
        f"{FRESH_TOKENS} tokens per algorithm, in the benchmark process, not pinned): {figures}. That is what the "
        "first request with each new token costs on top of the cached path above.",
        "",
    ]
