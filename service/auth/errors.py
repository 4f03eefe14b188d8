"""Why a request may not proceed. service/api/errors.py maps each to its HTTP status."""

from __future__ import annotations


class AuthError(Exception):
    """Base class; `reason` is for the log only (it never carries the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingToken(AuthError):
    def __init__(self) -> None:
        super().__init__("no bearer token")


class InvalidToken(AuthError):
    """The token was refused; `description` is what the client is told (coarse on purpose)."""

    def __init__(self, reason: str, *, description: str = "The access token is invalid") -> None:
        super().__init__(reason)
        self.description = description


class InsufficientScope(AuthError):
    def __init__(self, missing: tuple[str, ...], *, subject: str) -> None:
        super().__init__(f"missing scope {' '.join(missing)}")
        self.missing = missing
        self.subject = subject


class KeysUnavailable(AuthError):
    """No signing keys could be had from the issuer yet: our problem, not the client's (503)."""

    def __init__(self, reason: str, *, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
