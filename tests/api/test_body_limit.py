"""Oversize request bodies are refused with a JSON 413 before they are read whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

LIMIT = 4096


@pytest.fixture
def small_limit_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"max_body_bytes": LIMIT}))) as test_client:
        yield test_client


def body_of(size: int) -> bytes:
    """A valid task padded with JSON whitespace to exactly `size` bytes."""
    start, end = b'{"title": "t"', b"}"
    return start + b" " * (size - len(start) - len(end)) + end


def test_declared_oversize_body_is_refused_with_json_413(small_limit_client: TestClient) -> None:
    response = small_limit_client.post(
        "/tasks", content=body_of(LIMIT + 1), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == {"detail": f"Request body larger than {LIMIT} bytes"}
    assert response.headers["x-request-id"]
    assert small_limit_client.get("/tasks").json()["total"] == 0


def test_streamed_oversize_body_is_cut_off_with_json_413(small_limit_client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # 100 KiB offered, no Content-Length
            yield b" " * 1024

    response = small_limit_client.post("/tasks", content=chunks(), headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert response.json()["detail"] == f"Request body larger than {LIMIT} bytes"
    assert small_limit_client.get("/tasks").json()["total"] == 0


def test_body_at_the_limit_is_accepted(small_limit_client: TestClient) -> None:
    response = small_limit_client.post("/tasks", content=body_of(LIMIT), headers={"content-type": "application/json"})

    assert response.status_code == 201


def test_default_limit_admits_the_largest_valid_task(client: TestClient) -> None:
    # 200 + 2000 four-byte characters: the largest body a valid task can need.
    response = client.post("/tasks", json={"title": "😀" * 200, "description": "😀" * 2000})

    assert response.status_code == 201
