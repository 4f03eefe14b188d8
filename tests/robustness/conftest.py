"""Drill fixtures: a live `python -m service` per test, and the container fixtures of tests/container."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The engine, the canary build context and the once-per-session image builds are shared with tests/container.
from tests.container.conftest import build_context, canary, docker, image, production_with_auth  # noqa: F401
from tests.live import LiveServer

StartServer = Callable[..., LiveServer]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    return tmp_path


@pytest.fixture
def start_server(workdir: Path) -> Iterator[StartServer]:
    """start_server(**settings) -> a healthy live server in `workdir`; every one is stopped after the test."""
    started: list[LiveServer] = []

    def start(**settings: str) -> LiveServer:
        server = LiveServer(workdir, **settings)
        started.append(server)
        return server.wait_until_healthy()

    yield start
    for server in started:
        server.stop()
