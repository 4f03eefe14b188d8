"""What a first `docker compose up` pulls, read from docker/Dockerfile's stage graph (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench import dockerfile

REPOSITORY = Path(__file__).resolve().parents[1]
DOCKERFILE = REPOSITORY / "docker" / "Dockerfile"
# The only images production may need: the runtime base, uv (any release:
# Dependabot bumps its tag), and the -slim image the lesson's slim targets use
# anyway (its binutils strips the wheels).
UV_IMAGE = "ghcr.io/astral-sh/uv:"


def allowed_for_production(python: str) -> set[str]:
    return {f"python:{python}-alpine", UV_IMAGE, f"python:{python}-slim"}


def kinds(images: set[str]) -> set[str]:
    """The images with uv's tag dropped, to compare with allowed_for_production()."""
    return {UV_IMAGE if image.startswith(UV_IMAGE) else image for image in images}


@pytest.fixture(scope="module")
def stages() -> dict[str, dockerfile.Stage]:
    return dockerfile.read(DOCKERFILE)


def test_production_is_the_default_target_that_compose_builds(stages: dict[str, dockerfile.Stage]) -> None:
    compose = yaml.safe_load((REPOSITORY / "compose.yaml").read_text())

    assert dockerfile.default_target(stages) == "production"
    assert "target" not in compose["services"]["api"]["build"]


def test_production_pulls_only_alpine_uv_and_slim(stages: dict[str, dockerfile.Stage]) -> None:
    pulled = dockerfile.images_pulled(stages, "production")

    assert kinds(pulled) == allowed_for_production("3.12")
    assert len(pulled) == 3  # one uv image


def test_dev_target_shares_the_alpine_base_and_is_never_the_default(stages: dict[str, dockerfile.Stage]) -> None:
    assert dockerfile.stage_bases(stages)["dev"] == "python:3.12-alpine"
    assert kinds(dockerfile.images_pulled(stages, "dev")) <= allowed_for_production("3.12")
    assert dockerfile.default_target(stages) != "dev"


def test_build_arguments_change_what_is_pulled(stages: dict[str, dockerfile.Stage]) -> None:
    on_313 = dockerfile.read(DOCKERFILE, {"PYTHON_VERSION": "3.13"})

    assert kinds(dockerfile.images_pulled(on_313, "production")) == allowed_for_production("3.13")


@pytest.mark.parametrize(
    ("line", "pulled"),
    [
        ("COPY --from=python:3.12 /usr/bin/strip /usr/bin/strip", "python:3.12"),
        ("RUN --mount=type=bind,from=debian:bookworm,source=/bin,target=/x true", "debian:bookworm"),
        ("COPY --from=${BASE} /x /x", "python:3.12"),
    ],
)
def test_graph_sees_an_image_copied_or_mounted_from(line: str, pulled: str) -> None:
    """The check can fail: a production that copies or mounts from another image pulls it."""
    text = f"ARG BASE=python:3.12\n{DOCKERFILE.read_text()}\n{line}\n"  # the line lands in production

    stages = dockerfile.parse(text)

    assert pulled in dockerfile.images_pulled(stages, "production")


def test_continuations_and_comments_inside_an_instruction_are_read() -> None:
    text = (
        "ARG V=3.12\n"
        "FROM python:${V}-alpine AS builder\n"
        "FROM scratch AS out\n"
        "# a comment\n"
        "RUN --mount=type=cache,target=/c \\\n"
        "    # a comment inside the instruction\n"
        "    --mount=type=bind,from=builder,source=/a,target=/a \\\n"
        "    true\n"
    )

    stages = dockerfile.parse(text)

    assert stages["out"].sources == ["builder"]
    assert dockerfile.images_pulled(stages, "out") == {"python:3.12-alpine"}
