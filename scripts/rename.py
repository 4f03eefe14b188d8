"""Rename the deployable in a fork: one command, run once from the repository root.

    python scripts/rename.py acme-orders                        # task-api -> acme-orders everywhere
    python scripts/rename.py acme-orders --title "Acme Orders"  # also the human title ("Task API")
    python scripts/rename.py acme-orders --dry-run              # list what would change

Rewrites the current name (read from pyproject.toml's [project] name) in every
file git tracks: the project and lock file, the image and compose project
names, the Kubernetes and Cloud Run names and labels, the OCI title label, the
workflows, the docs and the tests that check them. Its `snake_case` and
`UPPER_CASE` spellings follow along. The Python package stays `service`, so no
import changes. Needs only Python 3.11+ and git; commit the result.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A DNS-1123 label (Kubernetes names, image names, compose projects), leaving room
# for the longest suffix the manifests add ("-models").
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
MAX_LENGTH = 50
HUMAN_TITLE = "Task API"


def current_name(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as pyproject:
        name: str = tomllib.load(pyproject)["project"]["name"]
    return name


def tracked_files(root: Path) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607 (git from PATH)
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [root / name for name in listed.split("\0") if name and (root / name).is_file()]


def spellings(old: str, new: str) -> list[tuple[re.Pattern[str], str]]:
    """kebab, snake and upper spellings, each matched only as a whole name (task-api-test: yes; my-task-api: no)."""
    pairs = [(old, new), (old.replace("-", "_"), new.replace("-", "_"))]
    pairs.append((pairs[1][0].upper(), pairs[1][1].upper()))
    return [(re.compile(rf"(?<![A-Za-z0-9_-]){re.escape(before)}(?![A-Za-z0-9])"), after) for before, after in pairs]


def rename(root: Path, new: str, *, title: str | None, dry_run: bool) -> list[Path]:
    old = current_name(root)
    if new == old:
        raise SystemExit(f"the project is already called {old}")
    replacements = spellings(old, new)
    if title is not None:
        replacements.append((re.compile(re.escape(HUMAN_TITLE)), title))
    changed = []
    itself = root / "scripts" / "rename.py"  # its docs name the template's original name
    for path in tracked_files(root):
        if path == itself:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: nothing to rename
        renamed = text
        for pattern, replacement in replacements:
            renamed = pattern.sub(replacement, renamed)
        if renamed != text:
            changed.append(path)
            if not dry_run:
                path.write_text(renamed, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("name", help="the new name: lower case, digits and single dashes, e.g. acme-orders")
    parser.add_argument("--title", help=f"also replace the human title {HUMAN_TITLE!r} with this one")
    parser.add_argument("--dry-run", action="store_true", help="list the files that would change, change nothing")
    args = parser.parse_args(argv)
    if not NAME.match(args.name) or len(args.name) > MAX_LENGTH:
        parser.error(
            f"{args.name!r} is not a valid name: lower case letters, digits and single dashes, starting "
            f"with a letter, at most {MAX_LENGTH} characters (a Kubernetes, image and compose name)"
        )
    old = current_name(ROOT)
    changed = rename(ROOT, args.name, title=args.title, dry_run=args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    for path in changed:
        print(f"{verb} {path.relative_to(ROOT)}")
    print(f"{old} -> {args.name}: {len(changed)} files {verb}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
