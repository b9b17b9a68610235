"""API errors as exceptions, one class per reason a caller branches on.

The server answers failures with a ``metav1.Status`` object; :func:`from_status` turns it into
the most specific :class:`ApiError` subclass, so callers write ``except errors.NotFound``
instead of comparing codes. The whole Status stays available as :attr:`ApiError.status`
(``details.causes`` carries the field errors of a 422).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """The API server refused a request. ``code`` is the HTTP status, ``reason`` the
    Status reason (``NotFound``, ``Conflict``, ``AlreadyExists``, ``Invalid``...)."""

    def __init__(self, status: Mapping[str, Any], code: int | None = None) -> None:
        self.status = dict(status)
        self.code = int(code if code is not None else status.get("code") or 0)
        self.reason = str(status.get("reason") or "")
        self.message = str(status.get("message") or f"HTTP {self.code}")
        super().__init__(f"{self.code} {self.reason}: {self.message}".strip())

    @property
    def causes(self) -> list[dict[str, Any]]:
        details = self.status.get("details") or {}
        return list(details.get("causes") or [])

    @property
    def retry_after(self) -> float | None:
        """The server's ``retryAfterSeconds`` hint (429, 5xx), if it gave one."""
        details = self.status.get("details") or {}
        value = details.get("retryAfterSeconds")
        return float(value) if value else None


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class MethodNotAllowed(ApiError):
    pass


class Conflict(ApiError):
    """A write lost an optimistic-concurrency race (stale resourceVersion or precondition)."""


class AlreadyExists(ApiError):
    pass


class Gone(ApiError):
    """The requested resourceVersion is too old (compacted): relist."""


class UnsupportedMediaType(ApiError):
    pass


class Invalid(ApiError):
    """422: the object failed validation; :attr:`causes` names the fields."""


class TooManyRequests(ApiError):
    pass


class ServerError(ApiError):
    """5xx: the server (or a webhook it called) failed; usually worth retrying."""


class ServerTimeout(ServerError):
    pass


_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
    504: ServerTimeout,
}


def from_status(status: Mapping[str, Any], code: int) -> ApiError:
    """The :class:`ApiError` subclass for a Status body and HTTP code."""
    if code == 409 and status.get("reason") == "AlreadyExists":
        return AlreadyExists(status, code)
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if code >= 500 else ApiError
    return cls(status, code)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, NotFound)


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, Conflict) and not isinstance(exc, AlreadyExists)


def is_retryable(exc: BaseException) -> bool:
    """Errors a controller should retry with backoff rather than report as permanent."""
    return isinstance(exc, (ServerError, TooManyRequests, Conflict)) and not isinstance(
        exc, AlreadyExists
    )
