"""An issuer for a container's API, served inside the container on its own loopback.

The tests mint tokens with tests/issuer.py's TestIssuer (never started: it only
signs); only its public keys go into the container, as the discovery document
and JWKS files that the image's own python serves on 127.0.0.1 there. So the
service's issuer is a plain-http loopback URL, which its settings accept, and
no test traffic crosses a bridge network.
"""

from __future__ import annotations

import json
import time

import httpx

from tests.container.engine import Container
from tests.issuer import TestIssuer

ISSUER_PORT = 9999  # inside the container
ISSUER_URL = f"http://127.0.0.1:{ISSUER_PORT}"
ISSUER_DIRECTORY = "/tmp/issuer"  # noqa: S108 (the container's private tmpfs)
# The service fetches the keys at start-up, before they are served here: a short
# AUTH_JWKS_MIN_REFRESH_SECONDS lets the first request with a token refetch them soon.
MIN_REFRESH_SECONDS = "0.5"


def serve_issuer_inside(container: Container, issuer: TestIssuer) -> None:
    """The discovery document and JWKS as files, served by the image's own python on the container's loopback."""
    documents = {
        ".well-known/openid-configuration": {"issuer": ISSUER_URL, "jwks_uri": f"{ISSUER_URL}/jwks.json"},
        "jwks.json": {"keys": [key.jwk for key in issuer.keys]},
    }
    written = container.python(
        "import json, os, sys\n"
        f"for name, document in json.loads({json.dumps(json.dumps(documents))}).items():\n"
        f"    path = os.path.join({ISSUER_DIRECTORY!r}, name)\n"
        "    os.makedirs(os.path.dirname(path), exist_ok=True)\n"
        "    open(path, 'w').write(json.dumps(document))\n"
    )
    assert written.returncode == 0, written.stderr
    container.docker.run_cli(
        "exec", "-d", container.id,
        "python", "-m", "http.server", str(ISSUER_PORT), "--bind", "127.0.0.1", "--directory", ISSUER_DIRECTORY,
    )  # fmt: skip


def first_answer_with_keys(client: httpx.Client, path: str, headers: dict[str, str]) -> httpx.Response:
    """GET path until the service has the issuer's keys (no more 503); the last answer after a hang guard of ~20 s."""
    for _ in range(100):
        answer = client.get(path, headers=headers)
        if answer.status_code != 503:
            return answer
        time.sleep(0.2)
    return answer
