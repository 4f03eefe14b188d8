"""Render a kustomization the way `kubectl apply -k` (kustomize v5) would, for the features deploy/ uses.

No kustomize binary is available offline (Debian's kubectl 1.20 bundles kustomize
v2), so the manifest tests render the overlays with this module and validate what
comes out. It implements exactly what deploy/kubernetes uses and refuses anything
else with `UnsupportedKustomization`, so a fork that adds a feature gets a failing
test instead of a test of something kubectl would not apply:

- `resources`: files (one or more YAML documents) and directories holding a
  kustomization, rendered first; no URLs, no directory that contains a root
  already being rendered (kustomize: "cycle detected"), no object twice.
- `namespace`: set on every object, for the namespaced kinds in `KINDS` only.
- `images`: `name` matched against `containers[].image` and
  `initContainers[].image` anywhere in an object; `newName`, `newTag`, `digest`.
- `patches`: a strategic-merge patch (from `path`, or inline `patch` mapping) or
  an RFC 6902 JSON patch (inline `patch` list, with `target` kind and name).
  Strategic merge follows Kubernetes' patch strategies for the lists in
  `MERGE_KEYS` (merged by that key) and `ATOMIC_LISTS` (replaced); any other
  list, a `$patch`-style directive or a null (delete) is refused. JSON patch
  supports add, remove and replace.

Order within one kustomization, as kustomize applies it: resources, patches,
namespace, images. Output order is resource order (kubectl sorts by kind when it
applies; the objects are the same).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast

import yaml

Manifest = dict[str, Any]

KUSTOMIZATION_FILE = "kustomization.yaml"
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources", "patches", "images"}
IMAGE_FIELDS = {"name", "newName", "newTag", "digest"}
PATCH_FIELDS = {"path", "patch", "target"}
TARGET_FIELDS = {"kind", "name"}
JSON_PATCH_OPERATIONS = {"add", "remove", "replace"}
# The kinds deploy/ uses, all namespaced. kustomize also rewrites references inside some
# other kinds when it sets a namespace (RoleBinding subjects, webhook configurations...):
# not implemented, so not accepted.
KINDS = {
    "Deployment",
    "Service",
    "PersistentVolumeClaim",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Job",
    "HorizontalPodAutoscaler",
}
# Kubernetes' patchMergeKey for the lists a patch may merge (k8s.io/api/core/v1 types).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "topologySpreadConstraints": "topologyKey",
}
# Lists without a patch strategy: a patch replaces them whole.
ATOMIC_LISTS = {"command", "args", "matchLabelKeys", "accessModes", "items"}


class UnsupportedKustomization(Exception):
    """The kustomization uses something this renderer does not implement (so the tests cannot vouch for it)."""


def render(directory: Path) -> list[Manifest]:
    """The objects `kubectl apply -k directory` would send to the cluster."""
    return _render(directory.resolve(), visited=())


def _render(root: Path, *, visited: tuple[Path, ...]) -> list[Manifest]:
    for earlier in visited:
        if earlier == root or earlier.is_relative_to(root):
            raise UnsupportedKustomization(f"cycle detected: {root} contains {earlier}, already being rendered")
    path = root / KUSTOMIZATION_FILE
    if not path.is_file():
        raise UnsupportedKustomization(f"{root}: no {KUSTOMIZATION_FILE} (other spellings are not implemented)")
    kustomization = _mapping(yaml.safe_load(path.read_text(encoding="utf-8")), path)
    _only_fields(kustomization, KUSTOMIZATION_FIELDS, path)
    if (kustomization.get("apiVersion"), kustomization.get("kind")) != (
        "kustomize.config.k8s.io/v1beta1",
        "Kustomization",
    ):
        raise UnsupportedKustomization(f"{path}: expected kustomize.config.k8s.io/v1beta1 Kustomization")

    objects: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        objects.extend(_resource(root, entry, visited=(*visited, root)))
    _refuse_duplicates(objects, path)
    for patch in kustomization.get("patches", []):
        _apply_patch(root, _mapping(patch, path), objects)
    if "namespace" in kustomization:
        for manifest in objects:
            manifest["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        _apply_image(_mapping(image, path), objects, path)
    return objects


def _resource(root: Path, entry: object, *, visited: tuple[Path, ...]) -> list[Manifest]:
    if not isinstance(entry, str) or "://" in entry or entry.startswith(("github.com/", "git@")):
        raise UnsupportedKustomization(f"{root}: resource {entry!r} is not a local path")
    target = (root / entry).resolve()
    if target.is_dir():
        return _render(target, visited=visited)
    if not target.is_relative_to(root):
        # kustomize's default load restrictor: files only from inside the kustomization root.
        raise UnsupportedKustomization(f"{root}: file {entry} is outside the kustomization root")
    return [_object(document, target) for document in _documents(target)]


def _documents(path: Path) -> list[object]:
    return [document for document in yaml.safe_load_all(path.read_text(encoding="utf-8")) if document is not None]


def _object(document: object, path: Path) -> Manifest:
    manifest = _mapping(document, path)
    if manifest.get("kind") not in KINDS:
        raise UnsupportedKustomization(f"{path}: kind {manifest.get('kind')!r} is not one this renderer knows")
    if not isinstance(manifest.get("metadata"), dict) or not manifest["metadata"].get("name"):
        raise UnsupportedKustomization(f"{path}: every object needs metadata.name")
    return manifest


def _refuse_duplicates(objects: list[Manifest], path: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for manifest in objects:
        identity = (manifest["kind"], manifest["metadata"]["name"])
        if identity in seen:
            raise UnsupportedKustomization(f"{path}: {identity[0]}/{identity[1]} appears twice")
        seen.add(identity)


# --- patches -----------------------------------------------------------------


def _apply_patch(root: Path, entry: Manifest, objects: list[Manifest]) -> None:
    _only_fields(entry, PATCH_FIELDS, root / KUSTOMIZATION_FILE)
    if ("path" in entry) == ("patch" in entry):
        raise UnsupportedKustomization(f"{root}: a patch needs exactly one of `path` and `patch`")
    if "path" in entry:
        patch_file = (root / entry["path"]).resolve()
        if not patch_file.is_relative_to(root):
            raise UnsupportedKustomization(f"{root}: patch {entry['path']} is outside the kustomization root")
        documents = _documents(patch_file)
        if len(documents) != 1:
            raise UnsupportedKustomization(f"{patch_file}: one patch per file is implemented")
        body: object = documents[0]
    else:
        body = yaml.safe_load(entry["patch"])
    target = _mapping(entry.get("target", {}), root / KUSTOMIZATION_FILE)
    _only_fields(target, TARGET_FIELDS, root / KUSTOMIZATION_FILE)

    if isinstance(body, list):
        if set(target) != TARGET_FIELDS:
            raise UnsupportedKustomization(f"{root}: a JSON patch needs a target with kind and name")
        _json_patch(_target(objects, target["kind"], target["name"], root), body, root)
    else:
        patch = _mapping(body, root)
        kind = target.get("kind", patch.get("kind"))
        name = target.get("name", patch.get("metadata", {}).get("name"))
        if kind != patch.get("kind") or name != patch.get("metadata", {}).get("name"):
            raise UnsupportedKustomization(f"{root}: a strategic-merge patch must name its own target")
        manifest = _target(objects, kind, name, root)
        merged = _merge(copy.deepcopy(manifest), patch, location=str(kind), field="")
        manifest.clear()  # in place: the object keeps its position in the output
        manifest.update(merged)


def _target(objects: list[Manifest], kind: object, name: object, root: Path) -> Manifest:
    matches = [m for m in objects if m["kind"] == kind and m["metadata"]["name"] == name]
    if len(matches) != 1:
        raise UnsupportedKustomization(f"{root}: a patch targets {kind}/{name}, which is not among the resources")
    return matches[0]


def _merge(original: object, patch: object, *, location: str, field: str) -> Any:
    """Kubernetes strategic merge of `patch` onto `original`, for the cases in MERGE_KEYS and ATOMIC_LISTS."""
    if patch is None:
        raise UnsupportedKustomization(f"{location}: null (delete a field) is not implemented")
    if isinstance(patch, dict):
        return _merge_mapping(original, patch, location=location)
    if isinstance(patch, list):
        return _merge_list(original, patch, location=location, field=field)
    return patch


def _merge_mapping(original: object, patch: dict[Any, Any], *, location: str) -> Manifest:
    if not isinstance(original, dict):
        raise UnsupportedKustomization(f"{location}: a mapping patched onto a {type(original).__name__}")
    merged = dict(original)
    for key, value in patch.items():
        if str(key).startswith("$"):
            raise UnsupportedKustomization(f"{location}: patch directive {key} is not implemented")
        where = f"{location}.{key}"
        # A field the original lacks is set whole, as strategic merge does.
        merged[key] = (
            _merge(original[key], value, location=where, field=str(key)) if key in original else _checked(value, where)
        )
    return merged


def _merge_list(original: object, patch: list[Any], *, location: str, field: str) -> list[Any]:
    if not isinstance(original, list):
        raise UnsupportedKustomization(f"{location}: a list patched onto a {type(original).__name__}")
    if field in ATOMIC_LISTS:
        return list(_checked(patch, location))
    if field not in MERGE_KEYS:
        raise UnsupportedKustomization(f"{location}: merging this list is not implemented")
    key = MERGE_KEYS[field]
    merged = list(original)
    for raw in patch:
        item = _mapping(raw, Path(location))
        if key not in item:
            raise UnsupportedKustomization(f"{location}: a patch item lacks the merge key {key!r}")
        where = f"{location}[{item[key]}]"
        positions = [index for index, old in enumerate(merged) if old.get(key) == item[key]]
        if positions:
            merged[positions[0]] = _merge(merged[positions[0]], item, location=where, field="")
        else:
            merged.append(_checked(item, where))  # new items go last, as kustomize puts them
    return merged


def _checked(value: object, location: str) -> Any:
    """A value a patch adds whole: refused if it holds a directive or a null kustomize would treat specially."""
    if value is None:
        raise UnsupportedKustomization(f"{location}: null (delete a field) is not implemented")
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).startswith("$"):
                raise UnsupportedKustomization(f"{location}: patch directive {key} is not implemented")
            _checked(item, f"{location}.{key}")
    if isinstance(value, list):
        for item in value:
            _checked(item, location)
    return copy.deepcopy(value)


def _json_patch(manifest: Manifest, operations: list[object], root: Path) -> None:
    for raw in operations:
        operation = _mapping(raw, root)
        op = operation.get("op")
        if op not in JSON_PATCH_OPERATIONS or set(operation) - {"op", "path", "value"}:
            raise UnsupportedKustomization(f"{root}: JSON patch operation {operation!r} is not implemented")
        *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
        container: Any = manifest
        for part in parents:
            container = container[int(part)] if isinstance(container, list) else container[part]
        if op == "remove":
            if isinstance(container, list):
                del container[int(last)]
            else:
                del container[last]  # KeyError if absent, as kustomize fails
        elif isinstance(container, list):
            if op == "add":
                container.insert(len(container) if last == "-" else int(last), copy.deepcopy(operation["value"]))
            else:
                container[int(last)] = copy.deepcopy(operation["value"])
        else:
            if op == "replace" and last not in container:
                raise KeyError(operation["path"])
            container[last] = copy.deepcopy(operation["value"])


# --- images ------------------------------------------------------------------


def _apply_image(entry: Manifest, objects: list[Manifest], path: Path) -> None:
    _only_fields(entry, IMAGE_FIELDS, path)
    if "name" not in entry:
        raise UnsupportedKustomization(f"{path}: an images entry needs a name")
    for manifest in objects:
        for container in _containers(manifest):
            name, tag, digest = split_image(container["image"])
            if name != entry["name"]:
                continue
            name = entry.get("newName", name)
            if "digest" in entry:
                container["image"] = f"{name}@{entry['digest']}"
            elif "newTag" in entry:
                container["image"] = f"{name}:{entry['newTag']}"
            else:
                container["image"] = name + (f"@{digest}" if digest else f":{tag}" if tag else "")


def _containers(node: object) -> list[Manifest]:
    found: list[Manifest] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                found.extend(item for item in value if isinstance(item, dict) and "image" in item)
            else:
                found.extend(_containers(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_containers(item))
    return found


def split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; tag or digest empty when absent."""
    name, _, digest = image.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


# --- helpers -----------------------------------------------------------------


def _mapping(value: object, where: Path) -> Manifest:
    if not isinstance(value, dict):
        raise UnsupportedKustomization(f"{where}: expected a mapping, got {type(value).__name__}")
    return cast(Manifest, value)


def _only_fields(value: Manifest, allowed: set[str], where: Path) -> None:
    unknown = set(value) - allowed
    if unknown:
        raise UnsupportedKustomization(
            f"{where}: {', '.join(sorted(unknown))} not implemented by tests/deploy/kustomize.py"
        )


if __name__ == "__main__":
    # `python -m tests.deploy.kustomize DIRECTORY`: what the tests render, to diff with `kubectl kustomize DIRECTORY`.
    import sys

    yaml.safe_dump_all(render(Path(sys.argv[1])), sys.stdout, sort_keys=False)
