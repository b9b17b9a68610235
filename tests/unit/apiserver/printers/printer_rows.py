"""Shared helpers of the printer tests: a fixed server clock (``NOW``), timestamps relative
to it, the cells of one object as a registered printer prints them (``cells``, or only the
priority-0 ones with ``narrow``) and a pod template used by the workload kinds."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pilothouse.apiserver import printers

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def ago(**delta: float) -> str:
    return (NOW - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(group: str, resource: str, obj: dict[str, Any]) -> list[Any]:
    printer = printers.printer_for(group, resource)
    assert printer is not None
    row = printer.cells(obj, NOW)
    assert len(row) == len(printer.columns)
    return row


def narrow(group: str, resource: str, obj: dict[str, Any]) -> list[Any]:
    """The priority-0 cells, what plain ``kubectl get`` shows."""
    printer = printers.printer_for(group, resource)
    assert printer is not None
    return [
        c
        for c, col in zip(cells(group, resource, obj), printer.columns, strict=True)
        if col.priority == 0
    ]


TEMPLATE = {
    "spec": {"containers": [{"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}]}
}
