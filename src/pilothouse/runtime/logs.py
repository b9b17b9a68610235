"""Structured logs: every line a reconcile writes carries its controller, kind,
namespace/name and reconcile id, without the reconciler passing a logger around.

The controller sets :data:`context` (a ``contextvars.ContextVar``) around each reconcile;
:class:`ContextFilter` copies it onto every ``logging`` record made inside, whichever logger
made it. :func:`configure` installs one handler with either :class:`JSONFormatter` (one JSON
object per line, for log pipelines) or a console format (for humans).
"""

from __future__ import annotations

import contextvars
import datetime
import logging
import sys
from typing import Any, Literal

import orjson

#: The reconcile a log record belongs to: controller, kind, namespace, name, reconcileID.
context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "pilothouse_reconcile", default=None
)

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


#: The record attribute the context travels on. One attribute, not one per key: ``name``
#: is taken by the logger's name on every LogRecord.
_ATTR = "pilothouse_context"


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = context.get()
        if ctx and not hasattr(record, _ATTR):
            setattr(record, _ATTR, ctx)
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The reconcile context, then ``extra=`` fields, of a record."""
    out: dict[str, Any] = dict(getattr(record, _ATTR, None) or {})
    for key, value in vars(record).items():
        if key not in _RESERVED and key != _ATTR and not key.startswith("_"):
            out[key] = value
    return out


class JSONFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", <context and extra fields>, "error"}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """``time level logger msg key=value...`` with the reconcile context as key=values."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{k}={v}" for k, v in _fields(record).items()]
        if extras:
            first, nl, rest = line.partition("\n")
            line = f"{first} {' '.join(extras)}{nl}{rest}"
        return line


def configure(
    fmt: Literal["json", "console"] = "console", level: int | str = logging.INFO
) -> logging.Handler:
    """Send ``pilothouse`` and root logs to stderr in ``fmt``; returns the handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return handler
