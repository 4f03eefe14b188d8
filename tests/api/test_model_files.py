"""HTTP contract of /models: a read-only view confined to MODELS_DIR."""

from __future__ import annotations

import hashlib
import os
import pathlib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient


def test_lists_regular_files_sorted_by_name_skipping_hidden_and_directories(
    client: TestClient, models_dir: Path
) -> None:
    (models_dir / "b.onnx").write_bytes(b"bb")
    (models_dir / "a.bin").write_bytes(b"a")
    (models_dir / ".hidden").write_bytes(b"secret")
    (models_dir / "subdir").mkdir()
    (models_dir / "subdir" / "nested.bin").write_bytes(b"n")

    response = client.get("/models")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [(item["name"], item["size_bytes"]) for item in items] == [("a.bin", 1), ("b.onnx", 2)]
    modified = datetime.fromisoformat(items[0]["modified_at"])
    assert modified.utcoffset() == timedelta(0)


def test_empty_directory_lists_nothing(client: TestClient) -> None:
    assert client.get("/models").json() == {"items": []}


def test_get_returns_metadata_and_sha256(client: TestClient, models_dir: Path) -> None:
    content = os.urandom(3 * 1024 * 1024 + 7)  # several hashing chunks
    (models_dir / "model.bin").write_bytes(content)

    response = client.get("/models/model.bin")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "model.bin"
    assert body["size_bytes"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert set(body) == {"name", "size_bytes", "modified_at", "sha256"}


def test_get_missing_file_returns_404(client: TestClient) -> None:
    response = client.get("/models/absent.bin")

    assert response.status_code == 404
    assert response.json() == {"detail": "Model not found"}


@pytest.fixture
def opened_paths(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path the service opens through pathlib during the test."""
    opened: list[Path] = []
    real_open: Callable[..., Any] = pathlib.Path.open

    def recording_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(self.resolve())
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", recording_open)
    return opened


@pytest.mark.parametrize(
    "url",
    [
        "/models/%2e%2e",
        "/models/..%2fsecret.bin",
        "/models/%2e%2e%2fsecret.bin",
        "/models/%2E%2E%2Fsecret.bin",
        "/models/..%5csecret.bin",
        "/models/%2fetc%2fpasswd",
        "/models//etc/passwd",
        "/models/secret.bin%00",
        "/models/model.bin%00.txt",
        "/models/.hidden",
        "/models/link-out",
        "/models/subdir",
    ],
)
def test_names_resolving_outside_or_not_a_visible_file_return_404_without_opening(
    client: TestClient, models_dir: Path, tmp_path: Path, opened_paths: list[Path], url: str
) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"top secret")
    (models_dir / "model.bin").write_bytes(b"model")
    (models_dir / ".hidden").write_bytes(b"hidden")
    (models_dir / "subdir").mkdir()
    (models_dir / "link-out").symlink_to(outside)
    opened_paths.clear()

    response = client.get(url)

    assert response.status_code == 404
    assert "secret" not in response.text
    assert outside.resolve() not in opened_paths
    assert opened_paths == []


def test_symlink_out_of_the_directory_is_not_listed(client: TestClient, models_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"top secret")
    (models_dir / "link-out").symlink_to(outside)
    (models_dir / "real.bin").write_bytes(b"r")

    assert [item["name"] for item in client.get("/models").json()["items"]] == ["real.bin"]


def test_missing_models_directory_returns_503(client: TestClient, models_dir: Path) -> None:
    models_dir.rmdir()

    response = client.get("/models")

    assert response.status_code == 503
    assert response.json() == {"detail": "models directory does not exist"}
