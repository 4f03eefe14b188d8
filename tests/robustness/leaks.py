"""What an error body must never contain: stack traces, SQL, driver messages, file paths."""

from __future__ import annotations

import re

LEAK = re.compile(
    r"Traceback|File \"|\.py\b|sqlalchemy|sqlite|OperationalError|SELECT .* FROM|INSERT INTO|UPDATE \w+ SET"
    r"|/tmp/|/work/|/data/|/app/|/usr/|site-packages",
    re.IGNORECASE,
)


def leaked(body: str, request_text: str = "") -> list[str]:
    """Leak markers in `body` that the request itself did not carry (422 bodies echo the input)."""
    return sorted({match for match in LEAK.findall(body) if match.lower() not in request_text.lower()})
