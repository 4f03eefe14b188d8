"""Access rules: which token a request needs and which scopes each permission requires."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from service.auth.errors import InsufficientScope, MissingToken
from service.auth.principal import Principal
from service.settings import Settings

# The permissions routes ask for. Each maps to a scope name the issuer grants,
# by default the same string (AUTH_SCOPE_* rename them).
TASKS_READ = "tasks:read"
TASKS_WRITE = "tasks:write"
MODELS_READ = "models:read"


def scope_names(settings: Settings) -> dict[str, str]:
    return {
        TASKS_READ: settings.auth_scope_tasks_read,
        TASKS_WRITE: settings.auth_scope_tasks_write,
        MODELS_READ: settings.auth_scope_models_read,
    }


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...

    async def warm_up(self) -> None: ...


class AccessGuard:
    def __init__(self, verifier: TokenVerifier, *, scopes: Mapping[str, str]) -> None:
        self.verifier = verifier
        self.scopes = dict(scopes)

    async def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise MissingToken
        return await self.verifier.verify(token)

    def authorize(self, principal: Principal, permissions: Iterable[str]) -> None:
        missing = tuple(self.scopes[name] for name in permissions if self.scopes[name] not in principal.scopes)
        if missing:
            raise InsufficientScope(missing, subject=principal.subject)

    async def warm_up(self) -> None:
        await self.verifier.warm_up()
