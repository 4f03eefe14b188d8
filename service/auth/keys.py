"""The issuer's signing keys (JWKS): discovered, fetched off the event loop, cached, rotated, rate-limited.

- The key set's URL is AUTH_JWKS_URL, or `jwks_uri` from the issuer's
  /.well-known/openid-configuration (whose `issuer` must be AUTH_ISSUER).
- Fetches run in a worker thread with bounded timeouts and size, follow no
  redirects, and accept https (plain http only to a loopback host).
- Keys older than AUTH_JWKS_CACHE_SECONDS are refreshed in the background
  while the cached ones keep serving; a refresh that fails keeps them.
- A token naming an unknown key id (the issuer rotated) triggers a fetch at
  once, but never more than one per AUTH_JWKS_MIN_REFRESH_SECONDS, and
  concurrent requests share it: forged key ids cannot hammer the issuer.
- Without any key (issuer unreachable since start) verification is
  unavailable (503), not refused: the client did nothing wrong.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import structlog
from jwt import PyJWK, PyJWTError

from service.auth.errors import InvalidToken, KeysUnavailable
from service.settings import is_trusted_url

log = structlog.get_logger(__name__)

MAX_DOCUMENT_BYTES = 1024 * 1024  # real key sets are a few kB
# The public members of each key type: private material (d, p, q, ...) a
# misconfigured issuer might publish is dropped, never loaded.
_PUBLIC_MEMBERS = {
    "RSA": ("kty", "kid", "alg", "use", "n", "e"),
    "EC": ("kty", "kid", "alg", "use", "crv", "x", "y"),
    "OKP": ("kty", "kid", "alg", "use", "crv", "x"),
}

FetchJson = Callable[[str, float], Any]
Jwk = dict[str, Any]


class KeySetError(Exception):
    """A document from the issuer that cannot be used."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None  # a 3xx then fails as an HTTPError


def fetch_json(url: str, timeout: float) -> Any:
    """GET `url` and parse JSON: `timeout` per network operation and in all, at most MAX_DOCUMENT_BYTES."""
    if not is_trusted_url(url):
        raise KeySetError(f"{url} is neither https nor a loopback http URL")
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "task-api"})  # noqa: S310 (checked above)
    body = bytearray()
    try:
        response = urllib.request.build_opener(_NoRedirects).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:  # 4xx, 5xx, and 3xx (redirects are not followed)
        exc.close()  # it holds the connection
        raise KeySetError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    with response:
        while chunk := response.read(64 * 1024):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise KeySetError(f"{url}: larger than {MAX_DOCUMENT_BYTES} bytes")
            if time.monotonic() > deadline:
                raise KeySetError(f"{url}: not read within {timeout:g} s")
    return json.loads(body)


def signing_keys(document: Any) -> list[Jwk]:
    """The usable public signing keys of a JWKS document."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise KeySetError("the key set has no 'keys' list")
    usable = [
        {member: key[member] for member in _PUBLIC_MEMBERS[key["kty"]] if member in key}
        for key in keys
        if isinstance(key, dict) and key.get("kty") in _PUBLIC_MEMBERS and key.get("use", "sig") == "sig"
    ]
    if not usable:
        raise KeySetError("the key set holds no RSA, EC or OKP signing key")
    return usable


class JwksCache:
    def __init__(
        self,
        *,
        issuer: str,
        jwks_url: str | None,
        timeout: float,
        max_age: float,
        min_refresh: float,
        fetch: FetchJson = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.timeout = timeout
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.fetch = fetch
        self.clock = clock
        self.fetches = 0  # attempts, for the log and the tests
        self.generation = 0  # +1 per key set fetched: what was verified against an older one is re-verified
        self._keys: list[Jwk] | None = None
        self._prepared: dict[tuple[str | None, str], PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_error = "no key fetch attempted yet"
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    async def signing_key(self, kid: str | None, algorithm: str) -> PyJWK:
        """The key that verifies a token with this header, fetching the key set when it is unknown."""
        jwk = self._find(kid)
        if jwk is None:
            await self.refresh()
            jwk = self._find(kid)
            if jwk is None:
                if self._keys is None:
                    raise KeysUnavailable(self._last_error, retry_after=self._retry_after())
                raise InvalidToken(f"key id {kid!r} is not in the issuer's key set")
        else:
            self.refresh_if_stale()
        return self._prepare(jwk, kid, algorithm)

    def refresh_if_stale(self) -> None:
        """Start a background refresh when the keys are older than max_age (rate-limited like every fetch)."""
        if self._stale():
            self._refresh_in_background()

    async def warm_up(self) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Fetch the key set, unless a fetch was attempted less than min_refresh ago (then it is a no-op)."""
        async with self._lock:  # requests arriving meanwhile wait for this fetch instead of starting theirs
            if self._attempted_at is not None and self.clock() - self._attempted_at < self.min_refresh:
                return
            self._attempted_at = self.clock()
            self.fetches += 1
            try:
                # A limiter of its own: the fetch neither waits for nor takes one of
                # the THREADPOOL_SIZE slots that requests use (the lock keeps it single).
                keys = await anyio.to_thread.run_sync(self._fetch_keys, limiter=anyio.CapacityLimiter(1))
            except (OSError, ValueError, KeySetError) as exc:
                # OSError covers URLError/HTTPError and timeouts; ValueError, bad JSON.
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning("jwks_fetch_failed", url=self.jwks_url or self.issuer, reason=self._last_error)
                return
            self._keys = keys
            self._prepared = {}
            self._fetched_at = self.clock()
            self.generation += 1
            log.info("jwks_fetched", url=self.jwks_url, key_ids=[key.get("kid") for key in keys])

    def _fetch_keys(self) -> list[Jwk]:
        # In a worker thread: blocking network I/O never runs on the event loop.
        if self.jwks_url is None:
            self.jwks_url = self._discover()
        return signing_keys(self.fetch(self.jwks_url, self.timeout))

    def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self.fetch(url, self.timeout)
        if not isinstance(document, dict):
            raise KeySetError(f"{url}: not a JSON object")
        if document.get("issuer") != self.issuer:
            raise KeySetError(f"{url} names issuer {document.get('issuer')!r}, not AUTH_ISSUER {self.issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not is_trusted_url(jwks_uri):
            raise KeySetError(f"{url}: jwks_uri {jwks_uri!r} is missing or neither https nor loopback")
        return jwks_uri

    def _find(self, kid: str | None) -> Jwk | None:
        if self._keys is None:
            return None
        if kid is None:
            # A token without a key id is usable only when there is no choice to make.
            return self._keys[0] if len(self._keys) == 1 else None
        return next((key for key in self._keys if key.get("kid") == kid), None)

    def _prepare(self, jwk: Jwk, kid: str | None, algorithm: str) -> PyJWK:
        cached = self._prepared.get((kid, algorithm))
        if cached is not None:
            return cached
        if jwk.get("alg", algorithm) != algorithm:
            raise InvalidToken(f"token algorithm {algorithm} but key {kid!r} is for {jwk['alg']}")
        try:
            # The algorithm is bound to the key: PyJWT then verifies with exactly
            # this one, and a key of another type (RSA key, ES256 token) fails here.
            key = PyJWK(jwk, algorithm=algorithm)
        except PyJWTError as exc:
            raise InvalidToken(f"key {kid!r} cannot verify {algorithm}: {exc}") from None
        self._prepared[(kid, algorithm)] = key
        return key

    def _stale(self) -> bool:
        """Old enough to refresh, and no fetch attempted within min_refresh (no fetch per request at a dead issuer)."""
        now = self.clock()
        return (
            self._fetched_at is not None
            and now - self._fetched_at > self.max_age
            and (self._attempted_at is None or now - self._attempted_at >= self.min_refresh)
        )

    def _refresh_in_background(self) -> None:
        if self._background or self._lock.locked():
            return
        task = asyncio.get_running_loop().create_task(self.refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _retry_after(self) -> int:
        if self._attempted_at is None:
            return 1
        return max(1, math.ceil(self.min_refresh - (self.clock() - self._attempted_at)))
