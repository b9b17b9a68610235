"""``metadata.managedFields`` entries: who owns which fields, and their wire format.

A manager is identified by a :class:`ManagerKey` -- manager name, operation, subresource
and, for ``Update`` only, the apiVersion (an applier keeps one entry whatever version it
uses); its :class:`ManagedEntry` holds the field set, the version it was recorded at and a
timestamp. This module holds the steps of kube-apiserver's field-manager chain that work on
entries alone:

* decoding (:func:`decode_managed_fields`), with the real decoder's error texts;
* strip-meta (:func:`strip_meta`): ``apiVersion``, ``kind``, ``metadata`` itself and the
  server-populated metadata fields (name, namespace, uid, resourceVersion, generation,
  creationTimestamp, ...) are never owned; empty entries disappear;
* capping (:func:`cap_update_managers`): beyond 10 ``Update`` entries the oldest are folded
  into ``ancient-changes``;
* encoding (:func:`encode_managed_fields`): entries sorted by operation, time, manager,
  apiVersion, subresource.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pilothouse.apiserver.apply.fieldpath import FieldSet, Path, PathElement

#: Most ``Update`` entries kept before the oldest are merged (``DefaultMaxUpdateManagers``).
MAX_UPDATE_MANAGERS: Final = 10
ANCIENT_CHANGES: Final = "ancient-changes"


def field_path(*names: str) -> Path:
    """The path of nested struct fields ``names``."""
    return tuple(PathElement.field(n) for n in names)


_STRIPPED_META = "name namespace creationTimestamp selfLink uid clusterName generation"
#: Never owned by anyone (``stripMetaManager``).
STRIP_SET: Final = FieldSet.from_paths(
    [field_path("apiVersion"), field_path("kind"), field_path("metadata")]
    + [
        field_path("metadata", n)
        for n in (*_STRIPPED_META.split(), "managedFields", "resourceVersion")
    ]
)


@dataclass(frozen=True)
class ManagerKey:
    """A manager identity; ``api_version`` is empty for appliers."""

    manager: str
    operation: str
    api_version: str = ""
    subresource: str = ""

    @classmethod
    def of(cls, manager: str, operation: str, api_version: str, subresource: str) -> ManagerKey:
        return cls(
            manager or "unknown",
            operation,
            api_version if operation == "Update" else "",
            subresource,
        )

    def identifier(self) -> str:
        """The JSON identifier the real server sorts conflicts by."""
        d = {"manager": self.manager, "operation": self.operation}
        if self.api_version:
            d["apiVersion"] = self.api_version
        if self.subresource:
            d["subresource"] = self.subresource
        return json.dumps(d, separators=(",", ":"), ensure_ascii=False)

    def describe(self) -> str:
        """``"name" with subresource "status" using apps/v1``, as in conflict messages."""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource, ensure_ascii=False)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


@dataclass
class ManagedEntry:
    fields: FieldSet
    api_version: str
    time: str | None = None


Managed = dict[ManagerKey, ManagedEntry]


def decode_managed_fields(entries: Any) -> Managed:
    """Decode ``metadata.managedFields``; raises ValueError as the real decoder would."""
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    out: Managed = {}
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping):
            raise ValueError(f"managed fields entry {i} must be an object")
        op = e.get("operation")
        if op not in ("Apply", "Update"):
            raise ValueError("operation must be `Apply` or `Update`")
        api = e.get("apiVersion")
        if not isinstance(api, str) or not api:
            raise ValueError("apiVersion must not be empty")
        ft = e.get("fieldsType") or ""
        if ft != "FieldsV1":
            raise ValueError(
                f"missing fieldsType in managed fields entry {i}"
                if not ft
                else f"invalid fieldsType {json.dumps(ft)} in managed fields entry {i}"
            )
        raw = e.get("fieldsV1") or {}
        try:
            fields = FieldSet.from_fields_v1(raw)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"error decoding versioned set from entry {i}: {exc}") from exc
        key = ManagerKey(
            str(e.get("manager") or ""),
            op,
            api if op == "Update" else "",
            str(e.get("subresource") or ""),
        )
        t = e.get("time")
        out[key] = ManagedEntry(fields, api, t if isinstance(t, str) else None)
    return out


@functools.lru_cache(maxsize=1024)
def _epoch(t: str | None) -> float:
    # Cached: every write sorts its entries by time, and the same few timestamps (second
    # resolution) come round again and again.
    if not t:
        return 0.0
    try:
        return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def encode_managed_fields(managed: Managed) -> list[dict[str, Any]]:
    """Encode entries in the real server's order; an empty list means "omit the field"."""
    out: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    sort = len(managed) > 1  # a single entry (every create) has no order to work out
    for key, entry in managed.items():
        e: dict[str, Any] = {}
        if key.manager:
            e["manager"] = key.manager
        e["operation"] = key.operation
        e["apiVersion"] = entry.api_version
        if entry.time:
            e["time"] = entry.time
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = entry.fields.to_fields_v1()
        if key.subresource:
            e["subresource"] = key.subresource
        order = (
            (
                key.operation,
                int(_epoch(entry.time)),
                key.manager,
                entry.api_version,
                key.subresource,
            )
            if sort
            else ()
        )
        out.append((order, e))
    if sort:
        out.sort(key=lambda pair: pair[0])
    return [e for _, e in out]


def strip_meta(managed: Managed) -> None:
    """Drop the never-owned fields from every entry, then the entries left empty."""
    for key in list(managed):
        fields = managed[key].fields.difference(STRIP_SET)
        if fields.empty:
            del managed[key]
        else:
            managed[key].fields = fields


def cap_update_managers(managed: Managed, limit: int = MAX_UPDATE_MANAGERS) -> None:
    """Fold the oldest ``Update`` entries into per-version ``ancient-changes`` buckets."""
    updaters = [k for k in managed if k.operation == "Update"]
    if len(updaters) <= limit:
        return
    updaters.sort(key=lambda k: (int(_epoch(managed[k].time)), k.identifier()))
    first_of_version: dict[str, ManagerKey] = {}
    remaining = len(updaters)
    for key in updaters:
        if remaining <= limit:
            break
        if key not in managed:
            continue
        entry = managed[key]
        version = entry.api_version
        bucket = ManagerKey(ANCIENT_CHANGES, "Update", version, "")
        first = first_of_version.get(version)
        if first is None:
            first_of_version[version] = key
            continue
        if bucket not in managed and first in managed:
            managed[bucket] = managed.pop(first)
        prior = managed.get(bucket)
        merged = entry.fields if prior is None else entry.fields.union(prior.fields)
        managed[bucket] = ManagedEntry(merged, version, entry.time)
        if key != bucket:
            del managed[key]
        remaining -= 1
