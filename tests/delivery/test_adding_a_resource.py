"""docs/adding-a-resource.md stays true: its edits apply to today's code, and doing what it says works.

The page's code blocks are machine-readable: ```python file=PATH is a new file
in full, ```diff file=PATH an edit (context lines start with a space, `@@`
separates hunks). The last test applies every block to a copy of service/ and
tests/, migrates a SQLite file with the page's revision and runs the page's
tests there (SQLite only: the PostgreSQL runs are the suite's own business).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
DOC = REPOSITORY / "docs" / "adding-a-resource.md"
TOOLS = Path(sys.executable).parent
BLOCK = re.compile(r"^```(?P<kind>\w+)(?: file=(?P<path>\S+))?\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
REPOSITORY_PATH = re.compile(r"^(?:service|tests|docs|scripts|docker|deploy)/[\w./-]*$")


@dataclass(frozen=True)
class Block:
    kind: str
    path: str | None
    body: str


def blocks() -> list[Block]:
    return [Block(match["kind"], match["path"], match["body"]) for match in BLOCK.finditer(DOC.read_text())]


def new_files() -> dict[str, str]:
    return {block.path: block.body for block in blocks() if block.kind == "python" and block.path}


def edits() -> list[tuple[str, list[str]]]:
    """(path, hunk lines) for every hunk of every diff block."""
    found = []
    for block in blocks():
        if block.kind == "diff" and block.path:
            hunk: list[str] = []
            for line in block.body.splitlines():
                if line == "@@":
                    found.append((block.path, hunk))
                    hunk = []
                else:
                    hunk.append(line)
            found.append((block.path, hunk))
    return found


def side(hunk: list[str], *, after: bool) -> str:
    """The hunk's text before (context and removed lines) or after (context and added lines) the edit."""
    dropped = "-" if after else "+"
    return "".join(line[1:] + "\n" for line in hunk if not line.startswith(dropped))


def apply(text: str, hunk: list[str]) -> str:
    before = side(hunk, after=False)
    assert text.count(before) == 1, f"the edit's context is not in the file exactly once:\n{before}"
    return text.replace(before, side(hunk, after=True))


def inline_code() -> list[str]:
    prose = BLOCK.sub("", DOC.read_text())
    return INLINE.findall(prose)


def commands() -> list[str]:
    console = [line for block in blocks() if block.kind == "console" for line in block.body.splitlines()]
    return [text for text in console + inline_code() if text.startswith("uv run ")]


def test_the_page_has_new_files_edits_and_commands() -> None:
    assert {"service/domain/notes.py", "service/api/routes/notes.py", "tests/api/test_notes.py"} <= set(new_files())
    assert {path for path, _ in edits()} >= {
        "service/main.py",
        "service/migrations/env.py",
        "tests/api/test_openapi.py",
    }
    assert "uv run pytest" in commands()


def test_every_edit_applies_to_the_current_code() -> None:
    for path, hunk in edits():
        assert any(line.startswith("+") for line in hunk), path
        apply((REPOSITORY / path).read_text(), hunk)


def test_every_path_the_page_names_exists_or_is_one_it_creates() -> None:
    named = {text.split()[0] for text in inline_code() if REPOSITORY_PATH.match(text.split()[0])}
    created = set(new_files())

    assert named
    assert sorted(path for path in named - created if not (REPOSITORY / path).exists()) == []


def test_every_test_the_page_names_exists() -> None:
    names = {text for text in inline_code() if re.fullmatch(r"test_\w+", text)}
    defined = {
        match
        for path in (REPOSITORY / "tests").rglob("test_*.py")
        for match in re.findall(r"def (test_\w+)\(", path.read_text())
    }

    assert names
    assert names - defined == set()


def test_every_command_runs_a_tool_or_module_the_project_has() -> None:
    for command in commands():
        words = command.split()[2:]
        if words[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(words[2]) is not None, command
        else:
            assert (TOOLS / words[0]).is_file(), command


@pytest.fixture
def walked_through(tmp_path: Path) -> Path:
    """A copy of the project with every new file written and every edit applied."""
    for name in ("service", "tests"):
        shutil.copytree(REPOSITORY / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPOSITORY / "pyproject.toml", tmp_path)
    for path, hunk in edits():
        target = tmp_path / path
        target.write_text(apply(target.read_text(), hunk))
    for path, body in new_files().items():
        (tmp_path / path).write_text(body)
    return tmp_path


def test_doing_what_the_page_says_gives_a_working_resource(walked_through: Path) -> None:
    page_tests = [path for path in new_files() if path.startswith("tests/")]
    environment = {**os.environ, "PYTHONPATH": str(walked_through)}  # the copy's `service`, not the installed one
    # The page's tests, the contract test it edits, and the migration tests its revision must pass.
    migrations = [
        f"tests/migrations/test_migrations.py::{name}"
        for name in (
            "test_the_migrations_have_exactly_one_head",
            "test_revisions_import_alembic_and_sqlalchemy_only",
            "test_upgrade_from_empty_to_head_down_to_base_and_up_again",
            "test_models_and_migrations_do_not_drift",
        )
    ]
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
            *page_tests, "tests/api/test_openapi.py", *migrations, "-k", "not postgresql",
        ],
        cwd=walked_through, env=environment, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = {line.split()[1].split("::")[0] for line in result.stdout.splitlines() if line.startswith("PASSED ")}
    assert set(page_tests) | {"tests/migrations/test_migrations.py"} <= passed
