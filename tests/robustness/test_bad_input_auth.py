"""The schema-driven fuzz again, with auth on (a live server against a test issuer on 127.0.0.1).

Without a token every generated call to a secured operation is a 401 with a
JSON detail and a challenge, whatever the input; with a token carrying every
scope, the operations keep their whole contract (every built-in check).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode

from tests.issuer import AUDIENCE, TestIssuer, bearer
from tests.live import LiveServer
from tests.robustness.leaks import leaked
from tests.robustness.test_bad_input import MAX_EXAMPLES, OPERATIONS, changed_by_trimming

OPEN_OPERATIONS = {"GET /health", "GET /ready"}


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory: pytest.TempPathFactory, issuer: TestIssuer) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("fuzz-auth")
    (workdir / "models").mkdir()
    (workdir / "models" / "weights.bin").write_bytes(b"weights")
    server = LiveServer(workdir, AUTH_ISSUER=issuer.url, AUTH_AUDIENCE=AUDIENCE).wait_until_healthy()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def schema(secured_server: LiveServer) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{secured_server.base_url}/openapi.json")


def fuzz(api_operation: Any, mode: GenerationMode, exercise_case: Any) -> None:
    """MAX_EXAMPLES seeded examples of one operation in one mode, each handed to exercise_case(case, mode)."""

    @given(case=api_operation.as_strategy(generation_mode=mode).filter(lambda case: not changed_by_trimming(case)))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Case[Any]) -> None:
        exercise_case(case, mode)

    try:
        exercise()
    except Unsatisfiable:
        # Nothing is invalid for an operation without inputs, or whose only input is any string.
        assert mode is GenerationMode.NEGATIVE


@pytest.mark.parametrize("operation", sorted(set(OPERATIONS) - OPEN_OPERATIONS))
def test_every_unauthenticated_fuzzed_call_is_401_never_5xx(
    secured_server: LiveServer, schema: schemathesis.BaseSchema, operation: str
) -> None:
    method, path = operation.split(" ", 1)
    statuses: Counter[int] = Counter()
    wrong: list[str] = []

    def exercise_case(case: Case[Any], mode: GenerationMode) -> None:
        response = case.call(base_url=secured_server.base_url, timeout=30)
        statuses[response.status_code] += 1
        challenges = response.headers.get("www-authenticate", [])  # lowercase names, list values
        if response.status_code != 401 or challenges[:1] != challenges or not challenges[0].startswith("Bearer "):
            wrong.append(f"{mode.value}: {response.status_code} {challenges} for {case.body!r:.200}")
        elif set(response.json()) != {"detail"}:
            wrong.append(f"{mode.value}: {response.status_code} {response.text[:200]} for {case.body!r:.200}")

    for mode in GenerationMode:
        fuzz(schema[path][method], mode, exercise_case)

    print(f"{operation} without a token: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert not wrong, "\n".join(wrong[:5])
    assert secured_server.answers_health()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_fuzzed_calls_with_a_valid_token_keep_the_contract(
    secured_server: LiveServer, schema: schemathesis.BaseSchema, issuer: TestIssuer, operation: str
) -> None:
    method, path = operation.split(" ", 1)
    headers = bearer(issuer.token(lifetime=3600))
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    def exercise_case(case: Case[Any], mode: GenerationMode) -> None:
        # The schema declares the bearer scheme, so schemathesis generates an Authorization
        # header (a random value) or, in negative cases, leaves it out on purpose. Ours
        # replaces a generated one; a left-out one stays out, and 401 is the right answer.
        generated = [name for name in case.headers or {} if name.lower() == "authorization"]
        for name in generated:
            case.headers[name] = headers["Authorization"]
        response = case.call(base_url=secured_server.base_url, timeout=30)
        statuses[response.status_code] += 1
        if response.status_code in {401, 403} and generated:
            failures.append(f"{mode.value}: {response.status_code} with a valid token: {response.text[:300]}")
        try:
            case.validate_response(response)
        except (Exception, BaseExceptionGroup) as exc:  # a FailureGroup per failing example: collect them all
            failures.append(f"{mode.value}: {str(exc).strip()[:800]}")
        sent = repr(case.body) + repr(case.query) + repr(case.path_parameters)
        if response.status_code >= 400 and (found := leaked(response.text, sent)):
            failures.append(f"{mode.value}: error body leaks {found}: {response.text[:300]}")

    for mode in GenerationMode:
        fuzz(schema[path][method], mode, exercise_case)

    print(f"{operation} with a token: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures[:5])
    assert not any(status >= 500 for status in statuses)


def test_the_live_server_logs_the_subject_per_request_and_never_across_requests(
    issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Over one kept-alive connection: an authenticated request, then an open one; only the first names a subject."""
    workdir = tmp_path_factory.mktemp("auth-logs")
    (workdir / "models").mkdir()
    server = LiveServer(workdir, AUTH_ISSUER=issuer.url, AUTH_AUDIENCE=AUDIENCE, LOG_LEVEL="info")
    server.wait_until_healthy()
    token = issuer.token(scope="tasks:read", sub="bob", client_id="mobile")
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/tasks", headers=bearer(token)).status_code == 200
            assert client.get("/health").status_code == 200
            assert client.get("/tasks").status_code == 401
        time.sleep(0.2)
    finally:
        _, output = server.stop()

    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    requests = [
        (event["path"], event["status"], event.get("subject"), event.get("client_id"))
        for event in events
        if event["event"] == "request"
    ]
    assert requests[-3:] == [
        ("/tasks", 200, "bob", "mobile"),
        ("/health", 200, None, None),
        ("/tasks", 401, None, None),
    ]
    assert token not in output
