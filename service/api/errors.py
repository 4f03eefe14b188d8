"""The one place that maps domain errors to HTTP responses."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from service.auth.errors import AuthError, InsufficientScope, InvalidToken, KeysUnavailable, MissingToken
from service.domain.errors import (
    DomainError,
    ModelFileNotFound,
    ModelStoreUnavailable,
    StorageUnavailable,
    TaskNotFound,
)

log = structlog.get_logger(__name__)

# Status code and client-facing detail per error; None shows the error's own message.
_RESPONSES: dict[type[DomainError], tuple[int, str | None]] = {
    TaskNotFound: (404, None),
    # The name is not echoed back: it may be a probe for paths outside the directory.
    ModelFileNotFound: (404, "Model not found"),
    ModelStoreUnavailable: (503, None),
    # The driver's message may name files or SQL; it goes to the log only.
    StorageUnavailable: (503, "Storage temporarily unavailable; retry later"),
}


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    status_code, detail = next(response for error, response in _RESPONSES.items() if isinstance(exc, error))
    headers = None
    if isinstance(exc, StorageUnavailable):
        # An operational condition (disk full, volume gone, lock contention), not a
        # bug: the driver's reason is enough, a traceback per request is noise.
        log.error("storage_unavailable", reason=str(exc))
        headers = {"Retry-After": "1"}
    return JSONResponse({"detail": detail or str(exc)}, status_code=status_code, headers=headers)


# RFC 6750 section 3: the challenge says what went wrong, never how the token looked.
_REALM = 'Bearer realm="task-api"'


async def _auth_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, KeysUnavailable):
        log.error("auth_keys_unavailable", reason=exc.reason)
        return JSONResponse(
            {"detail": "Token verification temporarily unavailable; retry later"},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, InsufficientScope):
        log.info("auth_refused", status=403, reason=exc.reason, subject=exc.subject)
        scope = " ".join(exc.missing)
        return JSONResponse(
            {"detail": f"Missing scope: {scope}"},
            status_code=403,
            headers={"WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{scope}"'},
        )
    if isinstance(exc, InvalidToken):
        log.info("auth_refused", status=401, reason=exc.reason)
        challenge = f'{_REALM}, error="invalid_token", error_description="{exc.description}"'
        return JSONResponse({"detail": exc.description}, status_code=401, headers={"WWW-Authenticate": challenge})
    if isinstance(exc, MissingToken):
        log.info("auth_refused", status=401, reason=exc.reason)
        detail = "Not authenticated: send an access token as Authorization: Bearer <token>"
        return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": _REALM})
    raise exc  # registered for AuthError, whose every kind is handled above


async def _http_error(request: Request, exc: Exception) -> Response:
    # FastAPI answers a JSON syntax error with 422 but a body the parser gives
    # up on otherwise (invalid UTF-8, an integer over Python's 4300 digits:
    # ValueError; arrays nested past the recursion limit: RecursionError) with
    # an undocumented 400. All are "the body is not JSON": one status, the
    # documented 422, in the same shape.
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        return _unprocessable([{"type": "json_invalid", "loc": ["body"], "msg": "JSON decode error", "input": {}}])
    return await http_exception_handler(request, exc)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # registered for RequestValidationError only
        raise exc
    return _unprocessable(exc.errors())


def _unprocessable(errors: Any) -> Response:
    # FastAPI's shape, but ASCII: each error echoes its input, and a lone
    # surrogate sent as "\ud800" cannot be encoded as UTF-8 (FastAPI's own
    # handler fails with a 500); escaped, it goes back as it came.
    body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True, separators=(",", ":"))
    return Response(body, status_code=422, media_type="application/json")


def register_error_handlers(app: FastAPI) -> None:
    for error in _RESPONSES:
        app.add_exception_handler(error, _domain_error)
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
