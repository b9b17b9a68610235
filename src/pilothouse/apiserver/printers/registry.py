"""The printer registry: :class:`Column` definitions, :class:`Printer` and the
``(group, resource)`` table that :func:`register` fills and :func:`printer_for` reads.

Kind modules (:mod:`.pods`, :mod:`.workloads`, ...) register their printers on import; the
package imports them all, so looking a printer up through :mod:`pilothouse.apiserver.printers`
always sees the complete table.

Design choice: column descriptions that upstream takes from generated Swagger docs are named
by ``(definition, field)`` and read from the OpenAPI definitions of the emulated release
(same source text), lazily and once, so importing the printers costs no schema loading.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pilothouse.apiserver import schemas
from pilothouse.apiserver.printers.format import age
from pilothouse.apiserver.printers.reading import Obj, name_of

Cells = Callable[[Obj, dt.datetime], list[Any]]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.cache
def _swagger_doc(definition: str, field: str) -> str:
    name = definition if definition.startswith("io.k8s.") else f"io.k8s.api.{definition}"
    try:
        node = schemas.definition(name).field(field)
    except (KeyError, RuntimeError, OSError):
        return ""
    description = node.raw.get("description") if node is not None else None
    return description if isinstance(description, str) else ""


@dataclass(frozen=True)
class Column:
    """One ``TableColumnDefinition``. ``doc`` is the description, or the ``(definition,
    field)`` whose OpenAPI description upstream uses (``core.v1.PodStatus``, ``podIP``)."""

    name: str
    doc: str | tuple[str, str] = ""
    type: str = "string"
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        doc = self.doc if isinstance(self.doc, str) else _swagger_doc(*self.doc)
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": doc,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class Printer:
    """How one resource prints: its columns and a function of (object, now) to cells."""

    columns: tuple[Column, ...]
    cells: Cells
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None


NAME = Column("Name", (_META, "name"), format="name")
AGE = Column("Age", (_META, "creationTimestamp"))
CREATED_AT = Column("Created At", (_META, "creationTimestamp"), type="date")

#: The pod template columns of workload controllers (wide only).
CONTAINERS = Column("Containers", "Names of each container in the template.", priority=1)
IMAGES = Column("Images", "Images referenced by each container in the template.", priority=1)


def column(name: str, doc: str | tuple[str, str] = "", type: str = "string") -> Column:
    """A column every ``kubectl get`` shows (priority 0)."""
    return Column(name, doc, type)


def wide(name: str, doc: str | tuple[str, str] = "", type: str = "string") -> Column:
    """A column only ``kubectl get -o wide`` shows (priority 1)."""
    return Column(name, doc, type, priority=1)


_REGISTRY: dict[tuple[str, str], Printer] = {}


def register(
    group: str,
    resource: str,
    *columns: Column,
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None,
) -> Callable[[Cells], Cells]:
    """Decorator: the decorated cell function prints ``resource`` of ``group``."""

    def add(cells: Cells) -> Cells:
        _REGISTRY[(group, resource)] = Printer(columns, cells, conditions)
        return cells

    return add


def printer_for(group: str, resource: str) -> Printer | None:
    """The printer of a built-in resource (plural name), or None for the default one."""
    return _REGISTRY.get((group, resource))


def printed_resources() -> list[tuple[str, str]]:
    """The ``(group, resource)`` pairs that have a printer."""
    return sorted(_REGISTRY)


def register_simple(group: str, resource: str, col: Column, cell: Callable[[Obj], Any]) -> None:
    """Register a ``Name, <one column>, Age`` printer."""
    register(group, resource, NAME, col, AGE)(lambda o, now: [name_of(o), cell(o), age(o, now)])
