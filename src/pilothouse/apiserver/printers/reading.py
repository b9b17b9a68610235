"""Tolerant readers of the versioned JSON that printers print.

Printers run on whatever a client managed to store, so none of these raises: a missing key,
``null`` or a value of the wrong JSON type reads as the type's zero value (an empty map or
list, ``""``, ``0``), the way Go's typed structs would decode it.

Design choice: accessors take a path of keys (``map_at(obj, "spec", "template")``) rather
than chaining ``.get`` calls, so a wrong type anywhere along the path is one check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Obj = Mapping[str, Any]


def map_at(obj: Any, *path: str) -> Mapping[str, Any]:
    """The map at ``path`` under ``obj``; ``{}`` when missing or not a map."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj if isinstance(obj, Mapping) else {}


def list_at(obj: Any, *path: str) -> list[Any]:
    """The list at ``path`` under ``obj``; ``[]`` when missing or not a list."""
    *parents, last = path
    value = map_at(obj, *parents).get(last)
    return value if isinstance(value, list) else []


def maps_at(obj: Any, *path: str) -> list[Mapping[str, Any]]:
    """The maps of the list at ``path``, skipping items that are not maps."""
    return [item for item in list_at(obj, *path) if isinstance(item, Mapping)]


def as_str(value: Any, default: str = "") -> str:
    """``value`` if it is a string, else ``default``."""
    return value if isinstance(value, str) else default


def as_int(value: Any, default: int = 0) -> int:
    """``value`` if it is an integer (not a bool), else ``default``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def name_of(obj: Obj) -> str:
    """``metadata.name``, ``""`` when unset."""
    return as_str(map_at(obj, "metadata").get("name"))


def is_deleting(obj: Obj) -> bool:
    """Whether the object carries a ``deletionTimestamp``."""
    return map_at(obj, "metadata").get("deletionTimestamp") is not None


def find_condition(conditions: list[Mapping[str, Any]], ctype: object) -> Mapping[str, Any] | None:
    """The first condition of type ``ctype``, or None."""
    return next((c for c in conditions if c.get("type") == ctype), None)


def condition_true(conditions: list[Mapping[str, Any]], ctype: object) -> bool:
    """Whether the first condition of type ``ctype`` has status ``True``."""
    cond = find_condition(conditions, ctype)
    return cond is not None and cond.get("status") == "True"


def namespaced_name(ref: Mapping[str, Any]) -> str:
    """``namespace/name`` of an object reference, either part ``""`` when unset."""
    return f"{as_str(ref.get('namespace'))}/{as_str(ref.get('name'))}"
