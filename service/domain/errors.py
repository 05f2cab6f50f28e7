"""The errors a client can cause, as the domain sees them: what is wrong, not which HTTP
status says so. The HTTP face maps each kind to its status in one place
(`service/api/errors.py`); the domain, the database layer and the webhooks rules raise these
and know nothing of HTTP."""

from __future__ import annotations


class ClientError(Exception):
    """Something the client asked for cannot be done; `message` is shown to it as is."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: seconds after which the same request may succeed (quota, a busy replica)
        self.retry_after = retry_after


class InvalidRequest(ClientError):
    """A field is missing or invalid; the message names it."""


class NotFound(ClientError):
    """No such thing in the caller's company (another company's is not found either)."""


class Conflict(ClientError):
    """The request contradicts the thing's current state (a terminal job, a reused key)."""


class TooLarge(ClientError):
    """A body or a value is over its size limit."""


class OverQuota(ClientError):
    """The company has used up a quota; `retry_after` says when to try again."""


class Busy(ClientError):
    """This replica cannot take the request now (it is not the client's fault); retry soon."""
