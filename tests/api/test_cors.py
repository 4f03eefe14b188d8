"""CORS: off unless CORS_ORIGINS lists origins; then only those, without credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings

ALLOWED = "https://app.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def client_with(tmp_path: Path, models_dir: Path, **settings: Any) -> TestClient:
    return TestClient(
        create_app(
            Settings(
                database_url=f"sqlite:///{tmp_path}/data/tasks.db", models_dir=models_dir, _env_file=None, **settings
            )
        )
    )


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.get("/tasks", headers={"Origin": ALLOWED})
    preflight = client.options("/tasks", headers={"Origin": ALLOWED, **PREFLIGHT})

    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in preflight.headers


def test_listed_origin_may_call_with_a_bearer_token_and_read_the_request_id(tmp_path: Path, models_dir: Path) -> None:
    with client_with(tmp_path, models_dir, cors_origins=f"{ALLOWED},http://localhost:3000") as client:
        preflight = client.options("/tasks", headers={"Origin": ALLOWED, **PREFLIGHT})
        response = client.get("/tasks", headers={"Origin": ALLOWED})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


def test_other_origins_get_no_cors_headers(tmp_path: Path, models_dir: Path) -> None:
    with client_with(tmp_path, models_dir, cors_origins=ALLOWED) as client:
        preflight = client.options("/tasks", headers={"Origin": "https://evil.example.com", **PREFLIGHT})
        response = client.get("/tasks", headers={"Origin": "https://evil.example.com"})

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in response.headers
