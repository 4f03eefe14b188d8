"""Bearer authentication over HTTP, against a real issuer on 127.0.0.1 (tests/issuer.py): who gets in, who does not."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.issuer import AUDIENCE, TestIssuer, bearer, new_key

MakeClient = Callable[..., TestClient]


@pytest.fixture
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture
def make_client(tmp_path: Path, models_dir: Path, issuer: TestIssuer) -> Iterator[MakeClient]:
    """make_client(**settings) -> a TestClient on an app with auth on against `issuer`."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path}/data/tasks.db",
            models_dir=models_dir,
            auth_issuer=issuer.url,
            auth_audience=AUDIENCE,
            _env_file=None,
            **overrides,
        )
        client = TestClient(create_app(settings))
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def assert_401(response: Any, error: str | None = "invalid_token") -> None:
    assert response.status_code == 401, response.text
    assert set(response.json()) == {"detail"}
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="task-api"')
    if error:
        assert f'error="{error}"' in challenge
    else:
        assert "error=" not in challenge


# Who gets in


def test_read_scope_reads_tasks(client: TestClient, issuer: TestIssuer) -> None:
    writer = bearer(issuer.token(scope="tasks:write"))
    task_id = client.post("/tasks", json={"title": "t"}, headers=writer).json()["id"]
    reader = bearer(issuer.token(scope="tasks:read"))

    assert client.get("/tasks", headers=reader).status_code == 200
    assert client.get(f"/tasks/{task_id}", headers=reader).json()["title"] == "t"


def test_write_scope_creates_changes_and_deletes(client: TestClient, issuer: TestIssuer) -> None:
    writer = bearer(issuer.token(scope="tasks:write"))

    created = client.post("/tasks", json={"title": "t"}, headers=writer)
    patched = client.patch(f"/tasks/{created.json()['id']}", json={"status": "done"}, headers=writer)
    deleted = client.delete(f"/tasks/{created.json()['id']}", headers=writer)

    assert [created.status_code, patched.status_code, deleted.status_code] == [201, 200, 204]


def test_read_scope_cannot_write_403_names_the_missing_scope(client: TestClient, issuer: TestIssuer) -> None:
    reader = bearer(issuer.token(scope="tasks:read"))

    for response in (
        client.post("/tasks", json={"title": "t"}, headers=reader),
        client.patch("/tasks/1", json={"status": "done"}, headers=reader),
        client.delete("/tasks/1", headers=reader),
    ):
        assert response.status_code == 403
        assert response.json() == {"detail": "Missing scope: tasks:write"}
        assert response.headers["www-authenticate"] == (
            'Bearer realm="task-api", error="insufficient_scope", scope="tasks:write"'
        )


def test_write_scope_alone_cannot_read(client: TestClient, issuer: TestIssuer) -> None:
    response = client.get("/tasks", headers=bearer(issuer.token(scope="tasks:write")))

    assert response.status_code == 403
    assert response.json() == {"detail": "Missing scope: tasks:read"}


def test_scp_list_claim_grants_scopes_like_scope(client: TestClient, issuer: TestIssuer) -> None:
    token = issuer.token(scope=None, scp=["tasks:read", "tasks:write"])

    assert client.get("/tasks", headers=bearer(token)).status_code == 200
    assert client.post("/tasks", json={"title": "t"}, headers=bearer(token)).status_code == 201


def test_models_need_the_models_read_scope(client: TestClient, issuer: TestIssuer) -> None:
    assert client.get("/models", headers=bearer(issuer.token(scope="models:read"))).status_code == 200
    assert client.get("/models", headers=bearer(issuer.token(scope="tasks:read"))).status_code == 403
    assert_401(client.get("/models/x.bin"), error=None)


def test_es256_tokens_verify_too(make_client: MakeClient, issuer: TestIssuer) -> None:
    issuer.keys.append(new_key("ES256"))
    client = make_client()

    response = client.get("/tasks", headers=bearer(issuer.token(issuer.keys[1], scope="tasks:read")))

    assert response.status_code == 200


def test_probes_and_docs_need_no_token(client: TestClient) -> None:
    for path in ("/health", "/ready", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_token_within_the_leeway_is_accepted(client: TestClient, issuer: TestIssuer) -> None:
    now = int(time.time())
    just_expired = issuer.token(exp=now - 5)  # leeway: 30 s
    almost_valid = issuer.token(nbf=now + 5)

    assert client.get("/tasks", headers=bearer(just_expired)).status_code == 200
    assert client.get("/tasks", headers=bearer(almost_valid)).status_code == 200


def test_configured_scope_names_are_the_ones_checked(make_client: MakeClient, issuer: TestIssuer) -> None:
    client = make_client(auth_scope_tasks_read="api://task-api/Tasks.Read")

    renamed = client.get("/tasks", headers=bearer(issuer.token(scope="api://task-api/Tasks.Read")))
    default_name = client.get("/tasks", headers=bearer(issuer.token(scope="tasks:read")))

    assert renamed.status_code == 200
    assert default_name.status_code == 403
    assert default_name.json() == {"detail": "Missing scope: api://task-api/Tasks.Read"}


# Who does not


def test_missing_token_is_401_with_a_bare_challenge(client: TestClient) -> None:
    response = client.get("/tasks")

    assert_401(response, error=None)
    assert response.json() == {"detail": "Not authenticated: send an access token as Authorization: Bearer <token>"}


def test_anonymous_request_with_a_broken_body_is_401_not_422(client: TestClient, issuer: TestIssuer) -> None:
    json_type = {"Content-Type": "application/json"}

    assert_401(client.post("/tasks", content=b"{not json", headers=json_type), error=None)
    assert_401(client.patch("/tasks/1", content=b"{not json", headers=json_type), error=None)
    # An authenticated caller does learn what is wrong with the body.
    authenticated = client.post("/tasks", content=b"{not json", headers=json_type | bearer(issuer.token()))
    assert authenticated.status_code == 422


def test_other_authorization_schemes_are_401(client: TestClient) -> None:
    assert_401(client.get("/tasks", headers={"Authorization": "Basic dXNlcjpwYXNz"}), error=None)
    assert_401(client.get("/tasks", headers={"Authorization": "Bearer"}), error=None)


def test_malformed_token_is_401(client: TestClient) -> None:
    for token in ("not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30", "x" * 4000):
        assert_401(client.get("/tasks", headers=bearer(token)))


def test_expired_token_is_401_and_says_so(client: TestClient, issuer: TestIssuer) -> None:
    response = client.get("/tasks", headers=bearer(issuer.token(exp=int(time.time()) - 120)))

    assert_401(response)
    assert response.json() == {"detail": "The access token expired"}


def test_token_not_yet_valid_is_401(client: TestClient, issuer: TestIssuer) -> None:
    response = client.get("/tasks", headers=bearer(issuer.token(nbf=int(time.time()) + 600)))

    assert_401(response)
    assert response.json() == {"detail": "The access token is not yet valid"}


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://evil.example.com"},
        {"iss": None},
        {"aud": "another-api"},
        {"aud": None},
        {"exp": None},
        {"sub": None},
    ],
    ids=["wrong-issuer", "no-issuer", "wrong-audience", "no-audience", "no-exp", "no-sub"],
)
def test_token_with_wrong_or_missing_claims_is_401(client: TestClient, issuer: TestIssuer, claims: Any) -> None:
    response = client.get("/tasks", headers=bearer(issuer.token(**claims)))

    assert_401(response)
    assert response.json() == {"detail": "The access token is invalid"}


def test_token_signed_by_another_key_under_a_known_key_id_is_401(client: TestClient, issuer: TestIssuer) -> None:
    published = issuer.keys[0]
    impostor = new_key(slot=2)
    forged = issuer.token(impostor, headers={"kid": published.kid})

    assert_401(client.get("/tasks", headers=bearer(forged)))


def test_token_signed_by_an_unknown_key_is_401(client: TestClient, issuer: TestIssuer) -> None:
    assert_401(client.get("/tasks", headers=bearer(issuer.token(new_key(slot=2)))))


def test_alg_none_is_401(client: TestClient, issuer: TestIssuer) -> None:
    assert_401(client.get("/tasks", headers=bearer(issuer.unsigned_token())))


def test_hs256_keyed_with_the_public_key_is_401(client: TestClient, issuer: TestIssuer) -> None:
    assert_401(client.get("/tasks", headers=bearer(issuer.hs256_with_public_key())))


def test_tampered_payload_is_401(client: TestClient, issuer: TestIssuer) -> None:
    assert_401(client.post("/tasks", json={"title": "t"}, headers=bearer(issuer.tampered())))


def test_es256_token_under_an_rsa_key_id_is_401(client: TestClient, issuer: TestIssuer) -> None:
    ec_key = new_key("ES256")
    confused = issuer.token(ec_key, headers={"kid": issuer.keys[0].kid})

    assert_401(client.get("/tasks", headers=bearer(confused)))


def test_algorithm_outside_auth_algorithms_is_401(make_client: MakeClient, issuer: TestIssuer) -> None:
    issuer.keys.append(new_key("ES256"))
    client = make_client(auth_algorithms="RS256")

    assert_401(client.get("/tasks", headers=bearer(issuer.token(issuer.keys[1]))))


def test_a_token_accepted_before_is_refused_once_it_expires(make_client: MakeClient, issuer: TestIssuer) -> None:
    """Verified tokens are remembered (service/auth/tokens.py); never past their exp."""
    client = make_client(auth_leeway=0)
    token = issuer.token(exp=int(time.time()) + 2)
    assert client.get("/tasks", headers=bearer(token)).status_code == 200
    assert client.get("/tasks", headers=bearer(token)).status_code == 200

    time.sleep(3)

    response = client.get("/tasks", headers=bearer(token))
    assert_401(response)
    assert response.json() == {"detail": "The access token expired"}


# Keys: rotation, rate limit, an issuer that fails


def test_key_rotated_at_the_issuer_while_running_is_picked_up(make_client: MakeClient, issuer: TestIssuer) -> None:
    client = make_client(auth_jwks_min_refresh_seconds=0.1)
    old_token = issuer.token(scope="tasks:read")
    assert client.get("/tasks", headers=bearer(old_token)).status_code == 200

    issuer.rotate()
    time.sleep(0.2)  # past the minimum refresh interval
    new_token = issuer.token(scope="tasks:read")

    assert client.get("/tasks", headers=bearer(new_token)).status_code == 200
    # The old key left the key set: its tokens stop working once the set is refetched.
    time.sleep(0.2)
    assert_401(client.get("/tasks", headers=bearer(old_token)))


def test_unknown_key_ids_trigger_at_most_one_fetch_per_interval(make_client: MakeClient, issuer: TestIssuer) -> None:
    client = make_client(auth_jwks_min_refresh_seconds=60)
    assert client.get("/tasks", headers=bearer(issuer.token(scope="tasks:read"))).status_code == 200
    fetched = issuer.jwks_requests

    for _ in range(30):
        assert_401(client.get("/tasks", headers=bearer(issuer.token(new_key(slot=2)))))

    assert fetched == 1
    assert issuer.jwks_requests == fetched


def test_discovery_is_used_once_and_auth_jwks_url_skips_it(make_client: MakeClient, issuer: TestIssuer) -> None:
    discovered = make_client()
    assert discovered.get("/tasks", headers=bearer(issuer.token())).status_code == 200
    assert issuer.discovery_requests == 1

    direct = make_client(auth_jwks_url=issuer.jwks_url)
    assert direct.get("/tasks", headers=bearer(issuer.token())).status_code == 200
    assert issuer.discovery_requests == 1


def test_issuer_down_from_the_start_gives_503_with_retry_after(
    make_client: MakeClient, issuer: TestIssuer, json_logs: io.StringIO
) -> None:
    with issuer.down():
        client = make_client(auth_jwks_min_refresh_seconds=5)
        response = client.get("/tasks", headers=bearer(issuer.token()))

    assert response.status_code == 503
    assert response.json() == {"detail": "Token verification temporarily unavailable; retry later"}
    assert 1 <= int(response.headers["retry-after"]) <= 5
    events = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert any(event["event"] == "jwks_fetch_failed" and "HTTP 500" in event["reason"] for event in events)


def test_unreachable_issuer_gives_503_never_500(make_client: MakeClient, issuer: TestIssuer) -> None:
    issuer.stop()
    client = make_client()

    response = client.get("/tasks", headers=bearer(issuer.token()))

    assert response.status_code == 503
    assert "retry-after" in response.headers


def test_issuer_back_after_an_outage_is_used_again(make_client: MakeClient, issuer: TestIssuer) -> None:
    with issuer.down():
        client = make_client(auth_jwks_min_refresh_seconds=0.1)
        assert client.get("/tasks", headers=bearer(issuer.token())).status_code == 503
    time.sleep(0.2)

    assert client.get("/tasks", headers=bearer(issuer.token())).status_code == 200


def test_discovery_naming_another_issuer_is_refused(
    make_client: MakeClient, issuer: TestIssuer, json_logs: io.StringIO
) -> None:
    issuer.discovery_issuer = "https://impostor.example.com"
    client = make_client()

    response = client.get("/tasks", headers=bearer(issuer.token()))

    assert response.status_code == 503
    assert "names issuer 'https://impostor.example.com'" in json_logs.getvalue()


def test_cached_keys_keep_serving_while_the_issuer_is_down(make_client: MakeClient, issuer: TestIssuer) -> None:
    client = make_client(auth_jwks_min_refresh_seconds=0.1)
    assert client.get("/tasks", headers=bearer(issuer.token())).status_code == 200

    with issuer.down():
        time.sleep(0.2)
        known = client.get("/tasks", headers=bearer(issuer.token()))
        unknown = client.get("/tasks", headers=bearer(issuer.token(new_key(slot=2))))

    assert known.status_code == 200
    assert_401(unknown)


# Logs


def test_subject_and_client_id_are_in_the_request_log_and_the_token_never_is(
    client: TestClient, issuer: TestIssuer, json_logs: io.StringIO
) -> None:
    token = issuer.token(scope="tasks:read", sub="alice", client_id="web-ui")
    expired = issuer.token(exp=int(time.time()) - 120)

    client.get("/tasks", headers=bearer(token))
    client.post("/tasks", json={"title": "t"}, headers=bearer(token))
    client.get("/tasks", headers=bearer(expired))

    output = json_logs.getvalue()
    events = [json.loads(line) for line in output.splitlines()]
    requests = [event for event in events if event["event"] == "request"]
    refusals = [event for event in events if event["event"] == "auth_refused"]
    assert [(event["status"], event.get("subject"), event.get("client_id")) for event in requests] == [
        (200, "alice", "web-ui"),
        (403, "alice", "web-ui"),
        (401, None, None),
    ]
    assert all(event["request_id"] for event in requests)
    assert [(event["status"], event["reason"]) for event in refusals] == [
        (403, "missing scope tasks:write"),
        (401, "token expired"),
    ]
    for secret in (token, expired, token.split(".")[2], expired.split(".")[2]):
        assert secret not in output


def test_auth_off_lets_every_request_through(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.post("/tasks", json={"title": "t"}).status_code == 201
        assert client.get("/tasks", headers=bearer("garbage")).status_code == 200
