"""The authenticated caller, read from a verified token's claims."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Principal:
    subject: str
    client_id: str | None
    scopes: frozenset[str]


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Scopes from `scope` (space-separated, RFC 9068) and `scp` (a list, or a string as Azure AD sends it)."""
    scopes: set[str] = set()
    for claim in ("scope", "scp"):
        value = claims.get(claim)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(item for item in value if isinstance(item, str))
    # RFC 9068 names the client `client_id`; OpenID Connect issuers often use `azp`.
    client_id = claims.get("client_id", claims.get("azp"))
    return Principal(
        subject=str(claims["sub"]),
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=frozenset(scopes),
    )
