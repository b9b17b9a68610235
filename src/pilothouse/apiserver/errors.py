"""API errors as Kubernetes ``Status`` objects.

Every failure the server reports travels as :class:`ApiError`, which renders to a
``meta/v1 Status`` with the HTTP code and ``reason`` the real kube-apiserver uses, so that
clients (kubectl, client-go, the Python clients) recognise it: ``NotFound`` is a 404 with
``reason: NotFound`` and ``details.name``/``kind``, a validation failure is a 422 with
``reason: Invalid`` and one ``details.causes`` entry per failing field, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One failing field of an ``Invalid`` error (``StatusCause``).

    ``reason`` is one of the ``FieldValue*`` reasons (``FieldValueRequired``,
    ``FieldValueInvalid``, ``FieldValueNotSupported``, ``FieldValueTypeInvalid``,
    ``FieldValueTooLong``, ``FieldValueDuplicate``, ``FieldValueForbidden``...),
    ``field`` the dotted path (``spec.replicas``, ``spec.containers[0].name``) and
    ``message`` the text after the field in the real server's wording, e.g.
    ``Required value`` or ``Invalid value: "x": must be no more than 63 characters``.
    """

    reason: str
    message: str
    field: str

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def describe(self) -> str:
        """``field: message``, the form used in the aggregated Status message."""
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass
class ApiError(Exception):
    """An error answered to the client as a ``Status`` object."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        # kube omits an empty reason (errors that are plain Go errors have none).
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str | None, group: str, kind: str) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": kind}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    return d


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(resource, group)} "{name}" not found',
        _details(name, group, resource),
    )


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(resource, group)} "{name}" already exists',
        _details(name, group, resource),
    )


def conflict(resource: str, name: str, group: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
        _details(name, group, resource),
    )


def invalid(kind: str, name: str, group: str, causes: list[Cause]) -> ApiError:
    """A 422 ``Invalid`` error listing every failing field, worded as the real server does:

    ``Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be ..., ...]``
    """
    target = f"{kind}.{group}" if group else kind
    parts = [c.describe() for c in causes]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(name, group, kind)
    details["causes"] = [c.to_dict() for c in causes]
    return ApiError(422, "Invalid", f'{target} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(message: str, resource: str = "", name: str = "", group: str = "") -> ApiError:
    return ApiError(
        403, "Forbidden", message, _details(name, group, resource) if resource else None
    )


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_large(message: str = "Request entity too large: limit is 3145728") -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml, application/vnd.kubernetes.protobuf; got "
        f"{content_type}",
    )


def too_many_requests(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        message,
        {"retryAfterSeconds": retry_after},
        {"Retry-After": str(retry_after)},
    )


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")
