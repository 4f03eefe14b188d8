"""The release workflow pins the pushed digest into every directory that carries the image, and renders every one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.manifests import APPLICABLE, IMAGE_ROOTS, PLACEHOLDER_IMAGE

IMAGE_WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "image.yml"


def _pin_step() -> dict[str, Any]:
    steps = yaml.safe_load(IMAGE_WORKFLOW.read_text(encoding="utf-8"))["jobs"]["image"]["steps"]
    [step] = [step for step in steps if step.get("name", "").startswith("pin the pushed digest")]
    return dict(step)


def test_the_pin_runs_only_for_a_pushed_version_tag_after_the_build() -> None:
    steps = yaml.safe_load(IMAGE_WORKFLOW.read_text(encoding="utf-8"))["jobs"]["image"]["steps"]
    names = [step.get("id") or step.get("name") for step in steps]

    assert _pin_step()["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert names.index("build") < names.index(_pin_step()["name"])
    assert _pin_step()["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"


def test_the_pin_edits_every_image_root_and_renders_every_applicable_directory() -> None:
    script = _pin_step()["run"]

    assert f"for root in {' '.join(IMAGE_ROOTS)}; do" in script
    assert f'kustomize edit set image "{PLACEHOLDER_IMAGE}=${{IMAGE}}@${{DIGEST}}"' in script
    assert f"for directory in {' '.join(APPLICABLE)}; do" in script
    assert 'kustomize build "deploy/kubernetes/$directory"' in script
