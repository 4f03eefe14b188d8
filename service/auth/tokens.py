"""JWT access tokens: signature, algorithm, exp, nbf, iss and aud checked by PyJWT; claims to a Principal."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from service.auth.errors import InvalidToken
from service.auth.keys import JwksCache
from service.auth.principal import Principal, principal_from_claims
from service.settings import Settings

# Every token must carry these; exp above all (a token that never expires is refused).
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
# Verified tokens remembered (by SHA-256, ~200 bytes each): a client sends the same
# token for its whole lifetime, and verifying it costs 0.1-0.3 ms of CPU each time.
VERIFIED_TOKENS = 4096


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    expires: float
    not_before: float | None
    key_generation: int


class JwtVerifier:
    def __init__(
        self,
        *,
        keys: JwksCache,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...],
        leeway: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.leeway = leeway
        self.clock = clock
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        if (known := self._still_valid(digest)) is not None:
            self.keys.refresh_if_stale()
            return known
        principal, claims = await self._verify(token)
        self._remember(digest, principal, claims)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, dict[str, object]]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        # Pinned before any key is looked at: `none`, HS* and anything not configured stop here.
        if algorithm not in self.algorithms:
            raise InvalidToken(f"algorithm {algorithm!r} is not accepted (AUTH_ALGORITHMS)")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the key id (kid) is not a string")
        key = await self.keys.signing_key(kid, algorithm)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired", description="The access token expired") from None
        except jwt.ImmatureSignatureError as exc:  # nbf or iat in the future, beyond the leeway
            raise InvalidToken(f"token not yet valid: {exc}", description="The access token is not yet valid") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
        return principal_from_claims(claims), claims

    def _still_valid(self, digest: bytes) -> Principal | None:
        """A remembered verification, if exp and nbf still hold and the key set is the one it was made with."""
        entry = self._verified.get(digest)
        if entry is None:
            return None
        now = self.clock()
        fresh = entry.key_generation == self.keys.generation and now <= entry.expires + self.leeway
        if not fresh or (entry.not_before is not None and now < entry.not_before - self.leeway):
            # Expired, not yet valid, or its key may be gone: verify again (and refuse with the reason).
            del self._verified[digest]
            return None
        self._verified.move_to_end(digest)
        return entry.principal

    def _remember(self, digest: bytes, principal: Principal, claims: dict[str, object]) -> None:
        expires, not_before = claims["exp"], claims.get("nbf")
        self._verified[digest] = _Verified(
            principal=principal,
            expires=float(expires) if isinstance(expires, int | float) else 0.0,
            not_before=float(not_before) if isinstance(not_before, int | float) else None,
            key_generation=self.keys.generation,
        )
        if len(self._verified) > VERIFIED_TOKENS:
            self._verified.popitem(last=False)

    async def warm_up(self) -> None:
        await self.keys.warm_up()


def build_verifier(settings: Settings) -> JwtVerifier:
    if settings.auth_issuer is None or settings.auth_audience is None:
        raise ValueError("build_verifier needs AUTH_ISSUER and AUTH_AUDIENCE")
    keys = JwksCache(
        issuer=settings.auth_issuer,
        jwks_url=settings.auth_jwks_url,
        timeout=settings.auth_http_timeout,
        max_age=settings.auth_jwks_cache_seconds,
        min_refresh=settings.auth_jwks_min_refresh_seconds,
    )
    return JwtVerifier(
        keys=keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        algorithms=settings.auth_algorithms,
        leeway=settings.auth_leeway,
    )
