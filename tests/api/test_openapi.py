"""The OpenAPI document describes every route with the status codes it really returns."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

OpenApiPaths = dict[str, dict[str, dict[str, Any]]]

EXPECTED_RESPONSES = {
    ("/health", "get"): {"200"},
    ("/ready", "get"): {"200", "503"},
    ("/tasks", "post"): {"201", "422", "503"},
    ("/tasks", "get"): {"200", "422", "503"},
    ("/tasks/{task_id}", "get"): {"200", "404", "422", "503"},
    ("/tasks/{task_id}", "patch"): {"200", "404", "422", "503"},
    ("/tasks/{task_id}", "delete"): {"204", "404", "422", "503"},
    ("/models", "get"): {"200", "503"},
    ("/models/{name}", "get"): {"200", "404", "422", "503"},
}


@pytest.fixture
def openapi(client: TestClient) -> OpenApiPaths:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths: OpenApiPaths = response.json()["paths"]
    return paths


def test_every_route_is_documented_with_its_status_codes(
    openapi: OpenApiPaths,
) -> None:
    documented = {
        (path, method): set(operation["responses"])
        for path, methods in openapi.items()
        for method, operation in methods.items()
    }

    assert documented == EXPECTED_RESPONSES


def test_error_responses_have_a_schema(openapi: OpenApiPaths) -> None:
    not_found = openapi["/tasks/{task_id}"]["get"]["responses"]["404"]

    assert not_found["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()
