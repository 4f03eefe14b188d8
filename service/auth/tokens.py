"""JWT access tokens: signature, algorithm, exp, nbf, iss and aud checked by PyJWT; claims to a Principal."""

from __future__ import annotations

import jwt

from service.auth.errors import InvalidToken
from service.auth.keys import JwksCache
from service.auth.principal import Principal, principal_from_claims
from service.settings import Settings

# Every token must carry these; exp above all (a token that never expires is refused).
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


class JwtVerifier:
    def __init__(
        self, *, keys: JwksCache, issuer: str, audience: str, algorithms: tuple[str, ...], leeway: int
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.leeway = leeway

    async def verify(self, token: str) -> Principal:
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
        return principal_from_claims(claims)

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
