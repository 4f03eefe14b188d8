"""tests/deploy/kustomize.py renders what it implements the way kustomize does, and refuses everything else."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.deploy.kustomize import UnsupportedKustomization, render

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example/app:1.0
          ports:
            - {containerPort: 80}
          env:
            - {name: A, value: "1"}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
      volumes:
        - {name: tmp, emptyDir: {}}
"""


PATCH_HEAD = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n"


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return directory


def kustomization(body: str) -> str:
    return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + textwrap.dedent(body)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return write(
        tmp_path / "base",
        {"kustomization.yaml": kustomization("resources: [deployment.yaml]\n"), "deployment.yaml": DEPLOYMENT},
    )


def test_an_overlay_merges_lists_by_their_kubernetes_merge_keys(base: Path, tmp_path: Path) -> None:
    overlay = write(
        tmp_path / "overlay",
        {
            "kustomization.yaml": kustomization(
                "namespace: team\nresources: [../base]\npatches:\n  - path: patch.yaml\n"
            ),
            "patch.yaml": """\
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: app}
                spec:
                  replicas: 2
                  template:
                    spec:
                      containers:
                        - name: app
                          env:
                            - {name: A, value: "2"}
                            - {name: B, value: "3"}
                          volumeMounts:
                            - {name: data, mountPath: /data}
                      volumes:
                        - {name: data, emptyDir: {}}
            """,
        },
    )

    [deployment] = render(overlay)

    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert deployment["metadata"]["namespace"] == "team"
    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "registry.example/app:1.0"
    assert container["env"] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]
    assert [item["mountPath"] for item in container["volumeMounts"]] == ["/tmp", "/data"]  # noqa: S108
    assert [item["name"] for item in deployment["spec"]["template"]["spec"]["volumes"]] == ["tmp", "data"]


@pytest.mark.parametrize(
    ("entry", "image"),
    [
        ("{name: registry.example/app, newTag: '2.0'}", "registry.example/app:2.0"),
        ("{name: registry.example/app, newName: ghcr.io/o/r, digest: 'sha256:ab12'}", "ghcr.io/o/r@sha256:ab12"),
        ("{name: registry.example/other, newTag: '9'}", "registry.example/app:1.0"),
    ],
)
def test_images_rewrite_only_the_named_image(base: Path, tmp_path: Path, entry: str, image: str) -> None:
    overlay = write(
        tmp_path / "overlay", {"kustomization.yaml": kustomization(f"resources: [../base]\nimages:\n  - {entry}\n")}
    )

    [deployment] = render(overlay)

    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_a_json_patch_removes_a_field(base: Path, tmp_path: Path) -> None:
    overlay = write(
        tmp_path / "overlay",
        {
            "kustomization.yaml": kustomization(
                """\
                resources: [../base]
                patches:
                  - target: {kind: Deployment, name: app}
                    patch: |-
                      - op: remove
                        path: /spec/template/spec/containers/0/env
                """
            )
        },
    )

    [deployment] = render(overlay)

    assert "env" not in deployment["spec"]["template"]["spec"]["containers"][0]


def test_rendering_does_not_change_what_the_base_renders(base: Path, tmp_path: Path) -> None:
    write(tmp_path / "overlay", {"kustomization.yaml": kustomization("namespace: team\nresources: [../base]\n")})
    render(tmp_path / "overlay")

    assert "namespace" not in render(base)[0]["metadata"]


@pytest.mark.parametrize(
    ("body", "files", "message"),
    [
        ("resources: [../base]\ncommonLabels: {a: b}\n", {}, "commonLabels not implemented"),
        ("resources: [../base]\nimages:\n  - {name: x, newTag: '1', tagSuffix: y}\n", {}, "tagSuffix not implemented"),
        ("resources: ['https://github.com/o/r//deploy']\n", {}, "not a local path"),
        (
            "resources: [../base, cm.yaml]\n",
            {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"},
            "kind 'ConfigMap'",
        ),
        ("resources: [../base, ../base/deployment.yaml]\n", {}, "outside the kustomization root"),
        (
            "resources: [../base]\npatches:\n  - path: p.yaml\n",
            {"p.yaml": PATCH_HEAD + "  template:\n    spec:\n      containers:\n        - {name: app, ports: []}\n"},
            "merging this list is not implemented",
        ),
        (
            "resources: [../base]\npatches:\n  - path: p.yaml\n",
            {
                "p.yaml": PATCH_HEAD
                + "  template:\n    spec:\n      containers:\n        - {name: app, $patch: delete}\n"
            },
            "directive $patch",
        ),
        (
            "resources: [../base]\npatches:\n  - path: p.yaml\n",
            {"p.yaml": PATCH_HEAD + "  replicas: null\n"},
            "null",
        ),
        (
            "resources: [../base]\npatches:\n  - path: p.yaml\n",
            {"p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: other}\nspec: {}\n"},
            "not among the resources",
        ),
        (
            "resources: [../base]\npatches:\n  - target: {kind: Deployment, name: app}\n"
            "    patch: '[{op: move, from: /a, path: /b}]'\n",
            {},
            "not implemented",
        ),
        (
            "resources: [../base]\npatches:\n  - target: {kind: Deployment, labelSelector: a=b}\n    patch: '[]'\n",
            {},
            "labelSelector not implemented",
        ),
        ("resources: [../base, ../base]\n", {}, "appears twice"),
        ("resources: [..]\n", {}, "cycle detected"),
    ],
    ids=[
        "field",
        "image-field",
        "url",
        "kind",
        "file-outside",
        "list",
        "directive",
        "null",
        "missing-target",
        "json-op",
        "target-field",
        "twice",
        "cycle",
    ],
)
def test_anything_not_implemented_fails_loudly(
    base: Path, tmp_path: Path, body: str, files: dict[str, str], message: str
) -> None:
    overlay = write(tmp_path / "overlay", {"kustomization.yaml": kustomization(body), **files})

    with pytest.raises(UnsupportedKustomization, match=message.replace("$", r"\$")):
        render(overlay)
