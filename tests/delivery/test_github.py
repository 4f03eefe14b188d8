"""The GitHub workflows and Dependabot configuration: valid, audited by zizmor, and following the pinning rules.

Offline: check-jsonschema ships the GitHub workflow, Dependabot and compose
schemas, and zizmor runs with --offline. A workflow that stops validating or
any zizmor finding (pedantic persona) fails here, before GitHub sees it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

REPOSITORY = Path(__file__).resolve().parents[2]
GITHUB = REPOSITORY / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
TOOLS = Path(sys.executable).parent  # check-jsonschema and zizmor come with the dev group
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses:\s*(\S+)\s+# v\d+\.\d+\.\d+\s*$")


def tool(name: str, *args: str, cwd: Path = REPOSITORY) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TOOLS / name), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def load(path: Path) -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    return document


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load(path)["jobs"]
    return found


def steps(path: Path) -> list[dict[str, Any]]:
    return [step for job in jobs(path).values() for step in job.get("steps", [])]


def test_there_are_workflows_for_tests_and_the_image() -> None:
    assert {path.name for path in WORKFLOWS} == {"ci.yml", "image.yml"}


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", WORKFLOWS),
        ("custom.github-workflows-require-timeout", WORKFLOWS),
        ("vendor.dependabot", [GITHUB / "dependabot.yml"]),
        ("vendor.compose-spec", [REPOSITORY / "compose.yaml", REPOSITORY / "compose.dev.yaml"]),
    ],
    ids=["workflows", "job-timeouts", "dependabot", "compose"],
)
def test_configuration_validates_against_its_schema(schema: str, files: list[Path]) -> None:
    result = tool("check-jsonschema", "--builtin-schema", schema, *map(str, files))

    assert result.returncode == 0, result.stdout + result.stderr


def test_postgres_override_validates_with_its_merge_tag_read_as_plain_yaml(tmp_path: Path) -> None:
    # `!override` (compose's merge tag: replace, do not append) is no YAML the checker parses.
    untagged = tmp_path / "compose.postgres.yaml"
    untagged.write_text((REPOSITORY / "compose.postgres.yaml").read_text().replace(" !override", ""))

    result = tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(untagged))

    assert "!override" in (REPOSITORY / "compose.postgres.yaml").read_text()
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-24.04\n    step:\n      - run: true\n")

    result = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(broken))

    assert result.returncode == 1, result.stdout


def zizmor(directory: Path) -> subprocess.CompletedProcess[str]:
    return tool("zizmor", "--offline", "--persona", "pedantic", "--no-progress", "--format", "plain", str(directory))


def test_zizmor_reports_no_finding() -> None:
    result = zizmor(GITHUB)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_would_report_an_unpinned_action_and_template_injection(tmp_path: Path) -> None:
    shutil.copytree(GITHUB, tmp_path / ".github")
    (tmp_path / ".github" / "workflows" / "bad.yml").write_text(
        "on: issues\n"
        "permissions: {}\n"
        "jobs:\n"
        "  greet:\n"
        "    runs-on: ubuntu-24.04\n"
        "    timeout-minutes: 5\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.issue.title }}"\n'
    )

    result = zizmor(tmp_path / ".github")

    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout
    assert "template-injection" in result.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_by_commit_with_its_version_beside_it(workflow: Path) -> None:
    uses = [step["uses"] for step in steps(workflow) if "uses" in step]
    commented = {match.group(1) for match in map(VERSION_COMMENT.search, workflow.read_text().splitlines()) if match}

    assert uses
    assert [action for action in uses if not PINNED.match(action)] == []
    assert set(uses) <= commented, "each `uses:` needs a `# vX.Y.Z` comment"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_permissions_are_read_only_at_the_top_and_every_job_is_bounded(workflow: Path) -> None:
    document = load(workflow)

    assert document["permissions"] == {"contents": "read"}
    assert document["concurrency"]["cancel-in-progress"] is True
    for name, job in jobs(workflow).items():
        assert isinstance(job.get("timeout-minutes"), int), f"job {name} has no timeout"
        granted = job.get("permissions", {})
        assert granted.get("contents", "read") == "read", f"job {name} may write the repository"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_checkout_never_persists_credentials(workflow: Path) -> None:
    checkouts = [step for step in steps(workflow) if step.get("uses", "").startswith("actions/checkout@")]

    assert checkouts
    assert all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_only_a_version_tag_pushes_and_only_the_image_job_may_write_packages() -> None:
    writers = {
        (workflow.name, name)
        for workflow in WORKFLOWS
        for name, job in jobs(workflow).items()
        if "write" in job.get("permissions", {}).values()
    }
    build = next(step for step in steps(GITHUB / "workflows" / "image.yml") if step.get("id") == "build")

    assert writers == {("image.yml", "image")}
    assert build["with"]["push"] == "${{ startsWith(github.ref, 'refs/tags/v') }}"
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["sbom"] is True
    assert build["with"]["provenance"] == "mode=max"
    assert "type=gha" in build["with"]["cache-from"]


def test_steps_that_need_a_public_repository_are_guarded() -> None:
    attest = [step for step in steps(GITHUB / "workflows" / "image.yml") if "attest" in step.get("uses", "")]

    assert attest
    assert all("github.event.repository.visibility == 'public'" in step["if"] for step in attest)


def test_the_test_job_runs_every_supported_python_and_containers_on_312() -> None:
    matrix = jobs(GITHUB / "workflows" / "ci.yml")["tests"]["strategy"]["matrix"]["include"]

    assert {entry["python"]: entry["containers"] for entry in matrix} == {"3.11": False, "3.12": True, "3.13": False}


def test_dependabot_covers_every_ecosystem_grouped_with_a_cooldown() -> None:
    updates = load(GITHUB / "dependabot.yml")["updates"]

    assert {(update["package-ecosystem"], update["directory"]) for update in updates} == {
        ("uv", "/"),
        ("docker", "/docker"),
        ("docker-compose", "/"),
        ("github-actions", "/"),
    }
    for update in updates:
        assert update["groups"], update["package-ecosystem"]
        assert update["cooldown"]["default-days"] >= 1, update["package-ecosystem"]


# ----------------------------------------------------------------- PostgreSQL

CI = GITHUB / "workflows" / "ci.yml"


def ci_step(job: str, name: str) -> dict[str, Any]:
    return next(step for step in jobs(CI)[job]["steps"] if step.get("name") == name)


def runs(job: str) -> list[str]:
    return [step["run"] for step in jobs(CI)[job]["steps"] if "run" in step]


def fake_postgresql(bin_dir: Path) -> None:
    bin_dir.mkdir(parents=True)
    for name in ("initdb", "pg_ctl", "postgres"):
        (bin_dir / name).write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {bin_dir.parent.name}'\n")
        (bin_dir / name).chmod(0o755)


def run_binaries_step(tmp_path: Path, root: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The workflow's step as GitHub runs it (bash -e), against `root`, with `sudo` a recording stub."""
    step = ci_step("tests", "PostgreSQL server binaries on PATH")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    sudo_log = tmp_path / "sudo.log"
    # The stub "installs" by laying out what Ubuntu's postgresql package would.
    (stubs / "sudo").write_text(
        f'#!/bin/sh\necho "$*" >> {sudo_log}\n'
        f'case "$*" in *"install"*) mkdir -p {root}/16/bin && for b in initdb pg_ctl postgres; do '
        f'printf "#!/bin/sh\\necho 16\\n" > {root}/16/bin/$b; chmod 755 {root}/16/bin/$b; done;; esac\n'
    )
    (stubs / "sudo").chmod(0o755)
    github_path = tmp_path / "github_path"
    env = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "GITHUB_PATH": str(github_path),
        **step["env"],
        "POSTGRESQL_ROOT": str(root),
    }
    result = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    installed = sudo_log.read_text().splitlines() if sudo_log.exists() else []
    result.stdout += github_path.read_text() if github_path.exists() else ""
    return result, installed


def test_every_test_job_fails_on_a_skip() -> None:
    pytest_steps = [step for step in jobs(CI)["tests"]["steps"] if step.get("run", "").startswith("uv run pytest")]

    assert len(pytest_steps) == 2  # the whole suite on 3.12, the suite without containers elsewhere
    assert all(step["env"]["FAIL_ON_SKIP"] == "1" for step in pytest_steps)


def test_the_postgresql_binaries_are_put_on_path_before_the_suite_runs() -> None:
    names = [step.get("name", step.get("run", step.get("uses"))) for step in jobs(CI)["tests"]["steps"]]
    binaries = names.index("PostgreSQL server binaries on PATH")
    first_suite = min(index for index, step in enumerate(jobs(CI)["tests"]["steps"]) if "pytest" in step.get("run", ""))

    assert "if" not in ci_step("tests", "PostgreSQL server binaries on PATH")  # every matrix entry
    assert binaries < first_suite
    assert ci_step("tests", "PostgreSQL server binaries on PATH")["env"]["POSTGRESQL_ROOT"] == "/usr/lib/postgresql"


def test_the_binaries_step_puts_the_newest_installed_major_on_path(tmp_path: Path) -> None:
    root = tmp_path / "postgresql"
    fake_postgresql(root / "9" / "bin")
    fake_postgresql(root / "16" / "bin")  # sorted as versions: 16 is newer than 9

    result, sudo = run_binaries_step(tmp_path, root)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(root / "16" / "bin")
    assert sudo == []  # nothing installed when the runner image has it


def test_the_binaries_step_installs_postgresql_when_the_image_lacks_it(tmp_path: Path) -> None:
    result, sudo = run_binaries_step(tmp_path, tmp_path / "postgresql")

    assert result.returncode == 0, result.stderr
    assert any("apt-get install" in call and call.endswith(" postgresql") for call in sudo)
    assert result.stdout.splitlines()[-1] == str(tmp_path / "postgresql" / "16" / "bin")


def test_the_binaries_step_fails_when_a_server_binary_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "postgresql"
    fake_postgresql(root / "16" / "bin")
    (root / "16" / "bin" / "pg_ctl").unlink()

    result, _ = run_binaries_step(tmp_path, root)

    assert result.returncode != 0


def test_the_migrate_job_migrates_a_health_checked_postgresql_twice_then_checks_it() -> None:
    job = jobs(CI)["migrate"]
    postgres = job["services"]["postgres"]
    settings = Settings(_env_file=None, database_url=job["env"]["DATABASE_URL"])
    commands = runs("migrate")
    migrations = [index for index, command in enumerate(commands) if "python -m service migrate" in command]

    assert postgres["image"].startswith("postgres:")
    assert "--health-cmd" in postgres["options"]
    assert "pg_isready" in postgres["options"]
    assert postgres["ports"] == ["127.0.0.1:5432:5432"]  # published on loopback only
    assert settings.database_url.startswith("postgresql+psycopg://task_api@127.0.0.1:5432/")
    assert job["env"]["DATABASE_PASSWORD"] == postgres["env"]["POSTGRES_PASSWORD"]
    assert settings.database_url.endswith("/" + postgres["env"]["POSTGRES_DB"])
    assert len(migrations) == 2
    assert "schema_up_to_date" in commands[migrations[1]]  # the second run found nothing to do
    assert commands[-1] == "uv run alembic check"
    assert migrations[1] < len(commands) - 1
