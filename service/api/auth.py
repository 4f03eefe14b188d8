"""Bearer authentication at the HTTP edge: the route class and security dependency routes declare, and OpenAPI.

A router whose routes need a caller uses `route_class=AuthenticatedRoute`, and
each route declares the permission it needs, `dependencies=[REQUIRE_TASKS_READ]`
(which also puts the bearer scheme and its scope in /openapi.json). Routes
elsewhere are open, which is all /health, /ready and /metrics need. With
AUTH_ISSUER unset both let everything through and the OpenAPI document
declares no security.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Request, Response, Security
from fastapi.routing import APIRoute
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


async def authenticate(request: Request) -> Principal | None:
    """The caller of this request, its token verified (once per request); None with auth off."""
    guard: AccessGuard | None = request.app.state.access_guard
    if guard is None:
        return None
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    credentials = await bearer(request)
    principal = await guard.authenticate(credentials.credentials if credentials else None)
    # Every later log line of this request (the access event included) names the caller.
    structlog.contextvars.bind_contextvars(subject=principal.subject)
    if principal.client_id is not None:
        structlog.contextvars.bind_contextvars(client_id=principal.client_id)
    request.state.principal = principal
    return principal


class AuthenticatedRoute(APIRoute):
    """A route whose caller is authenticated before anything else, its body included.

    FastAPI reads and parses the body before it resolves dependencies, so with
    the security dependency alone an anonymous request with a broken body
    would get a 422 (and learn what the endpoint parses) instead of a 401.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated_handler(request: Request) -> Response:
            await authenticate(request)  # an AuthError goes to the app's exception handlers
            return await handler(request)

        return authenticated_handler


async def authorize(
    request: Request, security_scopes: SecurityScopes, _credentials: BearerCredentials
) -> Principal | None:
    """The caller, if its token carries the route's scopes; None with auth off.

    `_credentials` is read by `authenticate`; declaring it here is what puts the
    bearer scheme into each operation's OpenAPI security requirement.
    """
    principal = await authenticate(request)
    guard: AccessGuard | None = request.app.state.access_guard
    if guard is None or principal is None:
        return None
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
