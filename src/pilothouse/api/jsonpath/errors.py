"""The errors of the JSONPath dialect: :class:`JsonPathError` for callers, and
:class:`EvalError`, the evaluator's internal subclass that carries a partial result.

Design choice: evaluation errors carry the partial result Go returns alongside its error,
because an existence filter (``[?(@.x)]``) keeps an element whenever that partial result is
non-empty, even on error.
"""

from __future__ import annotations

from typing import Any


class JsonPathError(ValueError):
    """A template that does not parse, or (with missing keys disallowed, or on a type
    mismatch) one that fails to evaluate."""


class EvalError(JsonPathError):
    """An evaluation error with the partial result Go returns alongside it."""

    def __init__(self, message: str, partial: list[Any]) -> None:
        super().__init__(message)
        self.partial = partial
