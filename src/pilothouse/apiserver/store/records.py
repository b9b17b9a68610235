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


class Event:
    """One committed change. ``prev`` is the record it replaced (None for ADDED), kept so a
    filtered watch can turn "stopped matching" into DELETED and "started matching" into
    ADDED, as the real watch cache does."""

    __slots__ = ("_wire", "prev", "record", "type")

    def __init__(self, type_: str, record: Record, prev: Record | None) -> None:
        self.type = type_
        self.record = record
        self.prev = prev
        self._wire: dict[str, bytes] = {}

    @property
    def rv(self) -> int:
        return self.record.rv

    def wire(self, type_: str | None = None) -> bytes:
        """The event as a watch-stream line, encoded once and shared by every watcher."""
        t = type_ or self.type
        line = self._wire.get(t)
        if line is None:
            line = b'{"type":"' + t.encode() + b'","object":' + self.record.raw + b"}\n"
            self._wire[t] = line
        return line
