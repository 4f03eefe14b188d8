"""A real OpenID Connect issuer for the tests: keys made here, discovery and JWKS served on 127.0.0.1.

TestIssuer serves /.well-known/openid-configuration and /jwks.json from a
thread, counts the key-set requests, can rotate its keys, fail, or answer
nonsense, and mints tokens with its private keys (PyJWT) or hand-made
forgeries (alg none, HS256 keyed with the public key, a tampered payload).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from service.settings import Settings

AUDIENCE = "task-api"
# Every scope the service knows by default (AUTH_SCOPE_*), a fork's new resources' too.
ALL_SCOPES = " ".join(
    str(field.default) for name, field in Settings.model_fields.items() if name.startswith("auth_scope_")
)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str  # RS256 or ES256
    private_key: PrivateKey

    @property
    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        exported = (
            RSAAlgorithm.to_jwk(public, as_dict=True)
            if isinstance(public, rsa.RSAPublicKey)
            else ECAlgorithm.to_jwk(public, as_dict=True)
        )
        return {**exported, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@functools.cache
def _rsa_key(slot: int) -> rsa.RSAPrivateKey:
    # 2048-bit generation takes ~0.1 s: a few per session, reused under fresh key ids.
    del slot
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_key(algorithm: str = "RS256", *, slot: int = 0) -> SigningKey:
    """A key under a fresh key id; `slot` picks one of the session's RSA keys (different slots, different keys)."""
    private_key: PrivateKey = _rsa_key(slot) if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1())
    return SigningKey(kid=uuid.uuid4().hex[:16], algorithm=algorithm, private_key=private_key)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


class TestIssuer:
    """Use as a context manager (or start()/stop()); `url` is its issuer identifier."""

    __test__ = False  # not a pytest test class

    def __init__(self, *keys: SigningKey, url: str | None = None) -> None:
        """`url` for an issuer served elsewhere (tokens only); otherwise start() serves it and sets it."""
        self.keys = list(keys) or [new_key()]
        self.url = url or ""
        self.jwks_url = f"{self.url}/jwks.json"
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.failing = False  # answer 500 to everything
        self.discovery_issuer: str | None = None  # override the `issuer` the discovery document names
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> TestIssuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.handle(self)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.jwks_url = f"{self.url}/jwks.json"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TestIssuer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # Serving

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        if self.failing:
            self._send(request, 500, {"error": "down"})
        elif request.path == "/.well-known/openid-configuration":
            self.discovery_requests += 1
            document = {"issuer": self.discovery_issuer or self.url, "jwks_uri": self.jwks_url}
            self._send(request, 200, document)
        elif request.path == "/jwks.json":
            self.jwks_requests += 1
            self._send(request, 200, {"keys": [key.jwk for key in self.keys]})
        else:
            self._send(request, 404, {"error": "not found"})

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    @contextmanager
    def down(self) -> Iterator[None]:
        self.failing = True
        try:
            yield
        finally:
            self.failing = False

    def rotate(self, algorithm: str = "RS256", *, slot: int = 1) -> SigningKey:
        """Replace every published key by a new one, as an issuer's key rotation ends."""
        key = new_key(algorithm, slot=slot)
        self.keys = [key]
        return key

    # Tokens

    def claims(self, *, scope: str | None = ALL_SCOPES, lifetime: int = 300, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "user-42",
            "client_id": "cli-app",
            "iat": now,
            "exp": now + lifetime,
        }
        if scope is not None:
            claims["scope"] = scope
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, key: SigningKey | None = None, *, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A token signed by `key` (the first published one by default); claims override the defaults (None drops)."""
        key = key or self.keys[0]
        return jwt.encode(
            self.claims(**claims),
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, **(headers or {})},
        )

    def unsigned_token(self, **claims: Any) -> str:
        """alg "none": a header, the claims and an empty signature."""
        kid = self.keys[0].kid
        return f"{b64url_json({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{b64url_json(self.claims(**claims))}."

    def hs256_with_public_key(self, **claims: Any) -> str:
        """The RS/HS confusion attack: HMAC-SHA256 keyed with the published public key."""
        key = self.keys[0]
        signing_input = (
            f"{b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{b64url_json(self.claims(**claims))}"
        )
        signature = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"

    def tampered(self, **claims: Any) -> str:
        """A validly signed read-only token whose payload was then edited to grant every scope."""
        header, _payload, signature = self.token(scope="tasks:read").split(".")
        return f"{header}.{b64url_json(self.claims(scope=ALL_SCOPES, **claims))}.{signature}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
