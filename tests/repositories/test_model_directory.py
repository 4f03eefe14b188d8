"""ModelDirectory: names are confined to the directory before anything is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.domain.errors import ModelFileNotFound
from service.repositories.model_files import ModelDirectory


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.bin"
    path.write_bytes(b"top secret")
    return path


@pytest.mark.parametrize(
    "name",
    ["..", "../secret.bin", "", ".", "sub/../../secret.bin", "{secret}", "link-out", "model.bin\0", "dir"],
)
def test_names_outside_or_not_regular_files_are_not_found(models_dir: Path, secret: Path, name: str) -> None:
    (models_dir / "model.bin").write_bytes(b"m")
    (models_dir / "dir").mkdir()
    (models_dir / "link-out").symlink_to(secret)

    with pytest.raises(ModelFileNotFound):
        ModelDirectory(models_dir).get(name.format(secret=secret))


def test_symlink_to_a_file_inside_the_directory_is_served(models_dir: Path) -> None:
    (models_dir / "v1.bin").write_bytes(b"weights")
    (models_dir / "latest.bin").symlink_to(models_dir / "v1.bin")

    detail = ModelDirectory(models_dir).get("latest.bin")

    assert (detail.name, detail.size_bytes) == ("latest.bin", 7)
