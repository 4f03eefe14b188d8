"""Run a test on every database engine the service supports: `@on_every_engine` (or `pytestmark = on_every_engine`).

It parametrizes the `database_url` fixture (tests/conftest.py), and so
`settings` and `client`: the same test function runs against a SQLite file and
against the session's real PostgreSQL (a fresh database per test). The ids
read `test_x[sqlite]`, `test_x[postgresql]`.
"""

from __future__ import annotations

import pytest

ENGINES = ["sqlite", "postgresql"]

on_every_engine = pytest.mark.parametrize("database_url", ENGINES, indirect=True)
