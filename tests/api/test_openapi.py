"""The OpenAPI document describes every route with the status codes it really returns."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

OpenApiPaths = dict[str, dict[str, dict[str, Any]]]

EXPECTED_RESPONSES = {
    ("/health", "get"): {"200"},
    ("/ready", "get"): {"200", "503"},
    ("/tasks", "post"): {"201", "413", "422", "503"},
    ("/tasks", "get"): {"200", "422", "503"},
    ("/tasks/{task_id}", "get"): {"200", "404", "422", "503"},
    ("/tasks/{task_id}", "patch"): {"200", "404", "413", "422", "503"},
    ("/tasks/{task_id}", "delete"): {"204", "404", "422", "503"},
    ("/models", "get"): {"200", "503"},
    ("/models/{name}", "get"): {"200", "404", "422", "503"},
}


# What a client generator names its methods after: `<resource>-<action>`.
EXPECTED_OPERATION_IDS = {
    ("/health", "get"): "health-live",
    ("/ready", "get"): "health-ready",
    ("/tasks", "post"): "tasks-create",
    ("/tasks", "get"): "tasks-list",
    ("/tasks/{task_id}", "get"): "tasks-get",
    ("/tasks/{task_id}", "patch"): "tasks-update",
    ("/tasks/{task_id}", "delete"): "tasks-delete",
    ("/models", "get"): "models-list",
    ("/models/{name}", "get"): "models-get",
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


def test_every_operation_has_a_readable_stable_operation_id(openapi: OpenApiPaths) -> None:
    operation_ids = {
        (path, method): operation.get("operationId")
        for path, methods in openapi.items()
        for method, operation in methods.items()
    }

    assert operation_ids == EXPECTED_OPERATION_IDS
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)+", str(operation_id)) for operation_id in operation_ids.values())


def test_every_operation_that_takes_a_body_documents_the_413(openapi: OpenApiPaths) -> None:
    with_body = [
        (path, method)
        for path, methods in openapi.items()
        for method, operation in methods.items()
        if "requestBody" in operation
    ]

    assert with_body  # POST and PATCH /tasks at least
    for path, method in with_body:
        too_large = openapi[path][method]["responses"].get("413")
        assert too_large is not None, f"{method.upper()} {path} takes a body but does not document 413"
        assert too_large["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
