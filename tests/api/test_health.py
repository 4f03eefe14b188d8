"""Liveness and readiness probes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.engines import on_every_engine

pytestmark = on_every_engine


def test_health_is_ok(client: TestClient) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_database_answers_and_models_dir_is_readable(client: TestClient) -> None:
    response = client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok", "models": "ok"}}


def test_ready_is_503_when_models_dir_is_missing_while_health_stays_200(client: TestClient, models_dir: Path) -> None:
    models_dir.rmdir()

    response = client.get("/ready")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "schema": "ok", "models": "models directory does not exist"},
    }
    assert client.get("/health").status_code == 200


def test_ready_is_503_when_models_path_is_a_file(client: TestClient, models_dir: Path) -> None:
    models_dir.rmdir()
    models_dir.write_text("not a directory")

    body = client.get("/ready").json()

    assert body["status"] == "unavailable"
    assert body["checks"]["models"] == "models path is not a directory"
