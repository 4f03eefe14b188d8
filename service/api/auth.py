"""Bearer authentication at the HTTP edge: the security dependency routes declare, and its OpenAPI description.

A route that needs a token declares `dependencies=[REQUIRE_TASKS_READ]` (or
another permission); a route without one is open, which is all /health, /ready
and /metrics need. With AUTH_ISSUER unset the dependency lets everything
through and the OpenAPI document declares no security.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from service.api.schemas import ErrorOut
from service.auth.guard import MODELS_READ, TASKS_READ, TASKS_WRITE, AccessGuard
from service.auth.principal import Principal

SCHEME = "bearer"
bearer = HTTPBearer(
    auto_error=False,  # a missing token is our 401 with WWW-Authenticate, in our JSON shape
    scheme_name=SCHEME,
    bearerFormat="JWT",
    description="An OAuth 2.0 access token (JWT) from the OpenID Connect issuer named by AUTH_ISSUER, "
    "for the audience AUTH_AUDIENCE. Each operation lists the scopes it needs.",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def authorize(
    request: Request, security_scopes: SecurityScopes, credentials: BearerCredentials
) -> Principal | None:
    """The caller, once its token is verified and carries the route's scopes; None with auth off."""
    guard: AccessGuard | None = request.app.state.access_guard
    if guard is None:
        return None
    principal = await guard.authenticate(credentials.credentials if credentials else None)
    # Every later log line of this request (the access event included) names the caller.
    structlog.contextvars.bind_contextvars(subject=principal.subject)
    if principal.client_id is not None:
        structlog.contextvars.bind_contextvars(client_id=principal.client_id)
    guard.authorize(principal, security_scopes.scopes)
    return principal


REQUIRE_TASKS_READ = Security(authorize, scopes=[TASKS_READ])
REQUIRE_TASKS_WRITE = Security(authorize, scopes=[TASKS_WRITE])
REQUIRE_MODELS_READ = Security(authorize, scopes=[MODELS_READ])

_AUTH_RESPONSES = {
    "401": "Missing, invalid or expired access token (see WWW-Authenticate)",
    "403": "Valid token without the scope this operation needs",
}


def document_security(app: FastAPI, scopes: dict[str, str] | None) -> None:
    """Make /openapi.json tell the truth about authentication.

    With auth on (`scopes` maps permissions to the configured scope names): each
    secured operation lists the scope names the issuer really grants, and
    documents its 401 and 403. With auth off: no security scheme at all.
    """
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {})
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                requirements = operation.pop("security", None)
                if not requirements or scopes is None:
                    continue
                operation["security"] = [
                    {name: [scopes.get(scope, scope) for scope in needed] for name, needed in requirement.items()}
                    for requirement in requirements
                ]
                responses = operation.setdefault("responses", {})
                for status, description in _AUTH_RESPONSES.items():
                    responses[status] = {
                        "description": description,
                        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
                    }
                components.setdefault("schemas", {}).setdefault("ErrorOut", ErrorOut.model_json_schema())
        if scopes is None:
            components.pop("securitySchemes", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
