"""/models/{name} on the live server: every way out of the directory is a 404; the file outside is never opened."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.live import LiveServer
from tests.robustness.inotify import IN_ACCESS, IN_OPEN, FileWatch
from tests.robustness.live import get_raw_path

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux-only")

SECRET = b"outside the models directory"


@pytest.fixture
def layout(workdir: Path) -> Path:
    """models/ with one real model and links out; secret.bin next to it, outside. Returns the secret."""
    secret = workdir / "secret.bin"
    secret.write_bytes(SECRET)
    models = workdir / "models"
    (models / "weights.bin").write_bytes(b"weights")
    (models / "relative-link.bin").symlink_to("../secret.bin")
    (models / "absolute-link.bin").symlink_to(secret)
    (models / "dir-link").symlink_to(workdir)
    return secret


def attacks(secret: Path) -> list[bytes]:
    absolute = str(secret).encode()
    encoded_absolute = absolute.replace(b"/", b"%2F")
    return [
        b"/models/../secret.bin",
        b"/models/..%2Fsecret.bin",
        b"/models/..%2fsecret.bin",
        b"/models/%2e%2e%2fsecret.bin",
        b"/models/%2E%2E%2Fsecret.bin",
        b"/models/%2e%2e/secret.bin",
        b"/models/..%5Csecret.bin",
        b"/models/....%2F%2Fsecret.bin",
        b"/models/%252e%252e%252fsecret.bin",
        b"/models/.%2e/secret.bin",
        b"/models/" + encoded_absolute,
        b"/models/" + absolute,
        b"/models//" + absolute.lstrip(b"/"),
        b"/models/secret.bin%00",
        b"/models/weights.bin%00..%2Fsecret.bin",
        b"/models/%00",
        b"/models/relative-link.bin",
        b"/models/absolute-link.bin",
        b"/models/dir-link%2Fsecret.bin",
        b"/models/dir-link",
        b"/models/.",
        b"/models/..",
        b"/models/%2e%2e",
        b"/models/..;/secret.bin",
        b"/models/%C0%AE%C0%AE%2Fsecret.bin",  # overlong UTF-8 for "."
    ]


def test_every_way_out_of_the_models_directory_is_404_and_never_opens_the_file(
    start_server: Callable[..., LiveServer], layout: Path
) -> None:
    server = start_server()
    with FileWatch(layout) as watch:
        answers = {path: get_raw_path(server.port, path) for path in attacks(layout)}
        listing = get_raw_path(server.port, b"/models")
        opened_by_server = watch.events()
        layout.read_bytes()  # control: the watch does see an open
        opened_by_test = watch.events()

    assert {path: answer.status for path, answer in answers.items()} == dict.fromkeys(answers, 404)
    for answer in answers.values():
        assert set(json.loads(answer.body)) == {"detail"}
        assert SECRET not in answer.body
        assert b"secret" not in answer.body
    assert [item["name"] for item in json.loads(listing.body)["items"]] == ["weights.bin"]
    assert opened_by_server == []
    assert any(mask & IN_OPEN for mask in opened_by_test)
    assert any(mask & IN_ACCESS for mask in opened_by_test)
    assert server.answers_health()


def test_the_real_model_is_still_served(start_server: Callable[..., LiveServer], layout: Path) -> None:
    server = start_server()

    answer = get_raw_path(server.port, b"/models/weights.bin")

    assert answer.status == 200
    assert json.loads(answer.body)["name"] == "weights.bin"
