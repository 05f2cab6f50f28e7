"""Errors as HTTP: the one place that says which status each kind of client error gets.

The domain raises `service.domain.errors.ClientError` kinds and knows nothing of HTTP;
what only the HTTP face can get wrong (a token, a company the caller may not use, too many
streams) is an `ApiError` with its status. The error middleware renders both as
`{"error": message}`.
"""

from __future__ import annotations

from service.domain.errors import (
    Busy,
    ClientError,
    Conflict,
    InvalidRequest,
    NotFound,
    OverQuota,
    TooLarge,
)

#: the status of each kind of domain error
STATUS: dict[type[ClientError], int] = {
    InvalidRequest: 400,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    OverQuota: 429,
    Busy: 503,
}


class ApiError(Exception):
    """An error of the HTTP face itself (authentication, access, stream caps)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def as_http(exc: ClientError | ApiError) -> ApiError:
    """A domain error as the status and headers the client gets."""
    if isinstance(exc, ApiError):
        return exc
    status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
    headers = {} if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return ApiError(status, exc.message, headers)


def bad_request(message: str) -> InvalidRequest:
    return InvalidRequest(message)


def not_found(message: str = "Job not found") -> NotFound:
    return NotFound(message)


def conflict(message: str) -> Conflict:
    return Conflict(message)
