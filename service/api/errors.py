"""The one place that maps domain errors to HTTP responses."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


def register_error_handlers(app: FastAPI) -> None:
    for error in _RESPONSES:
        app.add_exception_handler(error, _domain_error)
