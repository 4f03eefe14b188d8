"""Audit the locked runtime requirements (docker/requirements.txt, exported from uv.lock) with pip-audit.

    uv run python -m tests.robustness.audit_dependencies

Exit 0: every locked package was audited and none has a known vulnerability,
or the advisory data (PyPI's JSON API, pip-audit's default "pypi" service) is
not reachable: then it prints "audit skipped: <reason>" and checks nothing.
Exit 1: a vulnerability was found, or some package could not be audited although
the service answered. A script rather than a test: CI fails on any skipped test,
and a machine without the advisory data must not fail the suite for it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "docker" / "requirements.txt"
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", re.MULTILINE)


def advisory_data_unreachable(name: str, version: str) -> str | None:
    """Why pip-audit could not read advisories for `name==version`, or None when it can."""
    url = f"https://pypi.org/pypi/{name}/{version}/json"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            document = json.load(response)
    except (OSError, ValueError) as exc:
        return f"{url}: {exc}"
    if "vulnerabilities" not in document:
        return f"{url} answers without a 'vulnerabilities' field (a mirror without advisory data?)"
    return None


def main() -> int:
    pins = PIN.findall(REQUIREMENTS.read_text())
    if reason := advisory_data_unreachable(*pins[0]):
        print(f"audit skipped: {reason}")
        return 0
    # --no-deps --disable-pip: audit exactly the pinned, hashed list; resolve nothing, install nothing.
    result = subprocess.run(
        [str(PIP_AUDIT), "--requirement", str(REQUIREMENTS), "--no-deps", "--disable-pip",
         "--vulnerability-service", "pypi", "--format", "json", "--progress-spinner", "off"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    dependencies = json.loads(result.stdout)["dependencies"]
    unaudited = {entry["name"]: entry["skip_reason"] for entry in dependencies if "skip_reason" in entry}
    vulnerable = {
        f"{entry['name']}=={entry['version']}": [vulnerability["id"] for vulnerability in entry["vulns"]]
        for entry in dependencies
        if entry.get("vulns")
    }
    print(f"audited {len(dependencies) - len(unaudited)} of {len(pins)} locked runtime packages")
    for name, reason in unaudited.items():
        print(f"not audited: {name}: {reason}")
    for package, identifiers in vulnerable.items():
        print(f"vulnerable: {package}: {', '.join(identifiers)}")
    return 1 if vulnerable or unaudited or len(dependencies) != len(pins) else 0


if __name__ == "__main__":
    sys.exit(main())
