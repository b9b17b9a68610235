"""Field errors, worded and rendered as Go's ``k8s.io/apimachinery/pkg/util/validation/field``.

A :class:`FieldError` is one failing field: its path, the offending value, a detail
message and a :class:`Reason` (``field.ErrorType``). It renders the way ``field.Error``
does -- ``metadata.labels: Invalid value: "a b": name part must consist of...`` -- so that
``Status.details.causes`` and aggregated messages match the real server byte for byte:
strings are Go-quoted, numbers and bools printed by ``fmt``, anything else as JSON, and
the reasons that never show the value (``Required value``, ``Forbidden``, ...) omit it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pilothouse.api.goformat import go_json, go_quote, go_sprint

__all__ = ["FieldError", "Reason"]


class Reason(enum.StrEnum):
    """``field.ErrorType``: the ``reason`` of a ``StatusCause``."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"


_REASON_TEXT = {
    Reason.NOT_FOUND: "Not found",
    Reason.REQUIRED: "Required value",
    Reason.DUPLICATE: "Duplicate value",
    Reason.INVALID: "Invalid value",
    Reason.NOT_SUPPORTED: "Unsupported value",
    Reason.FORBIDDEN: "Forbidden",
    Reason.TOO_LONG: "Too long",
    Reason.TOO_MANY: "Too many",
    Reason.INTERNAL: "Internal error",
    Reason.TYPE_INVALID: "Invalid value",
}
# These reasons never show the offending value (a too-long value could be megabytes).
_VALUELESS = frozenset({Reason.REQUIRED, Reason.FORBIDDEN, Reason.TOO_LONG, Reason.INTERNAL})


@dataclass(frozen=True)
class FieldError:
    """One failing field, like Go's ``field.Error``.

    ``message`` is the detail only (``must be no more than 63 characters``); :attr:`body` is
    the text a ``StatusCause.message`` carries (``Invalid value: "x": must be ...``) and
    ``str()`` the ``field: body`` form used in aggregated messages.
    """

    field: str
    value: object
    message: str
    reason: str = Reason.INVALID

    @property
    def body(self) -> str:
        """``field.Error.ErrorBody()``: reason text, rendered value, detail."""
        try:
            reason = Reason(self.reason)
        except ValueError:
            text = f'<unknown error "{self.reason}">'
        else:
            text = _REASON_TEXT[reason]
            if reason not in _VALUELESS:
                text = f"{text}: {_render_value(self.value)}"
        return f"{text}: {self.message}" if self.message else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body}"

    def to_cause(self) -> dict[str, str]:
        """The ``StatusCause`` dict (``reason``, ``message``, ``field``)."""
        return {"reason": str(self.reason), "message": self.body, "field": self.field}


def _render_value(value: object) -> str:
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool | int | float):
        return go_sprint(value)
    return go_json(value)
