"""Request ids, the last-resort 500 and the error log that goes with it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.api.dependencies import get_task_service
from service.main import create_app
from service.settings import Settings


@pytest.mark.parametrize("request_id", ["abc", "A-b_c.1", "x" * 128])
def test_sane_incoming_request_id_is_echoed(client: TestClient, request_id: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": request_id})

    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize("request_id", ["x" * 129, "has space", "semi;colon", "<script>", ""])
def test_unsafe_incoming_request_id_is_replaced(client: TestClient, request_id: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": request_id})

    generated = response.headers["x-request-id"]
    assert generated != request_id
    assert len(generated) == 32
    assert generated.isalnum()


def test_request_id_is_generated_when_absent_and_differs_per_request(client: TestClient) -> None:
    first = client.get("/health").headers["x-request-id"]
    second = client.get("/tasks/1").headers["x-request-id"]

    assert first != second


class ExplodingTaskService:
    def get(self, task_id: int) -> None:
        raise RuntimeError(f"database at /secret/path exploded for {task_id}")


@pytest.fixture
def exploding_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    app.dependency_overrides[get_task_service] = ExplodingTaskService
    with TestClient(app) as test_client:
        yield test_client


def test_unexpected_exception_returns_generic_500_and_logs_one_error_with_traceback(
    json_logs: io.StringIO, exploding_client: TestClient
) -> None:
    response = exploding_client.get("/tasks/7", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert response.headers["x-request-id"] == "req-500"
    assert "secret" not in response.text
    events = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    errors = [event for event in events if event["level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["event"] == "unhandled_exception"
    assert errors[0]["request_id"] == "req-500"
    assert "Traceback" in errors[0]["exception"]
    assert "RuntimeError" in errors[0]["exception"]
    access = [event for event in events if event["event"] == "request"]
    assert [(event["status"], event["request_id"]) for event in access] == [(500, "req-500")]


def test_unknown_route_and_method_answer_json(client: TestClient) -> None:
    assert client.get("/nope").json() == {"detail": "Not Found"}
    response = client.put("/health")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
