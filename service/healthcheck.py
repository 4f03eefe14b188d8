"""Container health probe: `python -m service.healthcheck` exits 0 when GET /health answers 200.

Standard library only (the images have no curl or wget to rely on) and no
import of the app itself, so a probe costs a few milliseconds of CPU.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
