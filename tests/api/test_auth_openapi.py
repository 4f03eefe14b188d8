"""/openapi.json tells the truth about authentication: the bearer scheme and each operation's scopes, only when on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

SECURED = {
    ("/tasks", "get"): ["tasks:read"],
    ("/tasks/{task_id}", "get"): ["tasks:read"],
    ("/tasks", "post"): ["tasks:write"],
    ("/tasks/{task_id}", "patch"): ["tasks:write"],
    ("/tasks/{task_id}", "delete"): ["tasks:write"],
    ("/models", "get"): ["models:read"],
    ("/models/{name}", "get"): ["models:read"],
}
OPEN = {("/health", "get"), ("/ready", "get")}


# Never contacted: no lifespan runs here, so no key fetch starts.
ISSUER = "https://issuer.example.com/"


def openapi(tmp_path: Path, models_dir: Path, **settings: Any) -> dict[str, Any]:
    app = create_app(
        Settings(database_url=f"sqlite:///{tmp_path}/data/tasks.db", models_dir=models_dir, _env_file=None, **settings)
    )
    # Without `with`, TestClient runs no lifespan (no key warm-up); /openapi.json needs none.
    document: dict[str, Any] = TestClient(app).get("/openapi.json").json()
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_auth_on_declares_the_bearer_scheme_and_the_scopes_of_each_operation(tmp_path: Path, models_dir: Path) -> None:
    document = openapi(tmp_path, models_dir, auth_issuer=ISSUER, auth_audience="task-api")

    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    found = operations(document)
    assert {key: operation.get("security") for key, operation in found.items() if key in SECURED} == {
        key: [{"bearer": scopes}] for key, scopes in SECURED.items()
    }
    for key in OPEN:
        assert "security" not in found[key]
    for key in SECURED:
        responses = found[key]["responses"]
        assert {"401", "403"} <= set(responses)
        assert responses["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
        assert "WWW-Authenticate" in responses["401"]["headers"]


def test_renamed_scopes_appear_under_their_configured_names(tmp_path: Path, models_dir: Path) -> None:
    document = openapi(
        tmp_path,
        models_dir,
        auth_issuer=ISSUER,
        auth_audience="task-api",
        auth_scope_tasks_write="api://task-api/Tasks.Write",
    )

    assert operations(document)[("/tasks", "post")]["security"] == [{"bearer": ["api://task-api/Tasks.Write"]}]
    assert operations(document)[("/tasks", "get")]["security"] == [{"bearer": ["tasks:read"]}]


def test_auth_off_declares_no_security_at_all(tmp_path: Path, models_dir: Path) -> None:
    document = openapi(tmp_path, models_dir)

    assert "securitySchemes" not in document.get("components", {})
    for operation in operations(document).values():
        assert "security" not in operation
        assert not {"401", "403"} & set(operation["responses"])
