"""How admission failures become API errors, worded like kube-apiserver's
``k8s.io/apiserver/pkg/admission/plugin/webhook/errors``.

* :func:`internal` -- ``apierrors.NewInternalError``, 500 with the message as its cause;
* :class:`CallError` -- ``ErrCallingWebhook``: a failure to call a webhook, the only kind
  of failure that ``failurePolicy: Ignore`` may skip;
* :func:`denial` -- ``ToStatusErr``: the webhook's own status, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.api.validation import go_quote
from pilothouse.apiserver.errors import ApiError


def internal(message: str) -> ApiError:
    """``apierrors.NewInternalError``: the message is repeated as the single cause."""
    details = {"causes": [{"message": message}]}
    return ApiError(500, "InternalError", f"Internal error occurred: {message}", details)


class CallError(Exception):
    """``ErrCallingWebhook``: a failure subject to ``failurePolicy``."""

    def __init__(self, webhook: str, reason: str) -> None:
        super().__init__(f"failed calling webhook {go_quote(webhook)}: {reason}")

    def to_api_error(self) -> ApiError:
        return internal(str(self))


def denial(webhook: str, status: Any) -> ApiError:
    """``ToStatusErr``: the webhook's own status, message prefixed with who denied."""
    status = status if isinstance(status, Mapping) else {}
    code = status.get("code")
    code = code if isinstance(code, int) and code >= 400 else 400
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    denied_by = f"admission webhook {go_quote(webhook)} denied the request"
    if message:
        text = f"{denied_by}: {message}"
    elif reason:
        text = f"{denied_by}: {reason}"
    else:
        text = f"{denied_by} without explanation"
    details = status.get("details")
    return ApiError(code, reason, text, dict(details) if isinstance(details, Mapping) else None)
