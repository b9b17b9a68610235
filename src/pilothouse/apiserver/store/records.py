"""Stored objects and change events.

Objects are kept as their encoded JSON bytes rather than as dicts: a LIST or a watch event can
then be written to the wire by concatenating bytes, without re-encoding, and 100k objects cost
their size plus a small fixed overhead instead of the several-fold blow-up of nested Python
dicts. What filters need without decoding (labels, selectable fields, owner UIDs) is extracted
once, at write time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

# Frozen empty mapping shared by every record without labels.
_EMPTY: Mapping[str, str] = {}


class Record:
    """One stored object at one resourceVersion. Immutable once created."""

    __slots__ = (
        "created_rv",
        "fields",
        "group_resource",
        "labels",
        "name",
        "namespace",
        "owners",
        "raw",
        "rv",
        "uid",
    )

    def __init__(
        self,
        group_resource: str,
        namespace: str,
        name: str,
        rv: int,
        raw: bytes,
        uid: str,
        labels: Mapping[str, str] | None,
        fields: Mapping[str, str] | None,
        owners: tuple[str, ...],
        created_rv: int,
    ) -> None:
        self.group_resource = group_resource
        self.namespace = namespace
        self.name = name
        self.rv = rv
        self.raw = raw
        self.uid = uid
        self.labels: Mapping[str, str] = labels or _EMPTY
        self.fields = fields
        self.owners = owners
        self.created_rv = created_rv

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group_resource, self.namespace, self.name)

    def obj(self) -> dict[str, Any]:
        """A fresh, mutable decoded copy of the object."""
        value = orjson.loads(self.raw)
        assert isinstance(value, dict)
        return value

    def __repr__(self) -> str:
        return f"Record({self.group_resource} {self.namespace}/{self.name} rv={self.rv})"


ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


_PREFIX = {t: b'{"type":"' + t.encode() + b'","object":' for t in ("ADDED", "MODIFIED", "DELETED")}


class Event:
    """One committed change. ``prev`` is the record it replaced (None for ADDED), kept so a
    filtered watch can turn "stopped matching" into DELETED and "started matching" into
    ADDED, as the real watch cache does."""

    __slots__ = ("prev", "record", "type")

    def __init__(self, type_: str, record: Record, prev: Record | None) -> None:
        self.type = type_
        self.record = record
        self.prev = prev

    @property
    def rv(self) -> int:
        return self.record.rv

    def wire(self, type_: str | None = None) -> bytes:
        """The event as a watch-stream line. Not cached: the history window would then hold
        a second copy of every object, and building the line is a single memcpy."""
        return _PREFIX[type_ or self.type] + self.record.raw + b"}\n"
