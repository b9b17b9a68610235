"""Serving one stored object under several representations.

Two cases share storage with another representation, as in kube-apiserver:

* ``events.k8s.io/v1`` Events are stored as core ``v1`` Events, so ``kubectl describe``
  (which lists core events) shows events recorded through the newer API, and vice versa;
  the fields are renamed both ways (``regarding`` ↔ ``involvedObject``, ``note`` ↔
  ``message``, ``deprecated*`` ↔ the core names...);
* every served version of a custom resource shares one storage version; with conversion
  strategy ``None`` only ``apiVersion`` changes.

:func:`into` turns an object as the client sent it into its stored form, :func:`out` the
other way. Both copy only when they change something.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from pilothouse.apiserver import resources

Obj = dict[str, Any]

# (events.k8s.io name, core name)
_EVENT_RENAMES = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)


def _rename(obj: Obj, pairs: tuple[tuple[str, str], ...], api_version: str) -> Obj:
    out = dict(obj)
    # A stale target-side name in the input must not survive next to the renamed one.
    for _src, dst in pairs:
        out.pop(dst, None)
    for src, dst in pairs:
        if src in obj:
            out[dst] = out.pop(src)
    out["apiVersion"] = api_version
    return out


def _event_into(obj: Obj) -> Obj:
    return _rename(obj, _EVENT_RENAMES, "v1")


def _event_out(obj: Obj) -> Obj:
    return _rename(obj, tuple((b, a) for a, b in _EVENT_RENAMES), "events.k8s.io/v1")


_CONVERTERS: dict[str, tuple[Callable[[Obj], Obj], Callable[[Obj], Obj]]] = {
    "events.events.k8s.io": (_event_into, _event_out),
}


def needed(rt: resources.ResourceType) -> bool:
    """Whether objects of ``rt`` are stored in another representation."""
    if rt.group_resource in _CONVERTERS:
        return True
    return rt.is_custom and rt.storage_version not in (None, rt.version)


def into(rt: resources.ResourceType, obj: Obj) -> Obj:
    """The stored form of an object sent to ``rt``."""
    conv = _CONVERTERS.get(rt.group_resource)
    if conv is not None:
        return conv[0](obj)
    if rt.is_custom and rt.storage_version not in (None, rt.version):
        return {**obj, "apiVersion": f"{rt.group}/{rt.storage_version}"}
    return obj


def out(rt: resources.ResourceType, obj: Obj) -> Obj:
    """An object as ``rt`` serves it, from its stored form."""
    conv = _CONVERTERS.get(rt.group_resource)
    if conv is not None:
        return conv[1](obj)
    if rt.is_custom and obj.get("apiVersion") != rt.api_version:
        return {**obj, "apiVersion": rt.api_version}
    return obj


def raw_out(rt: resources.ResourceType, raw: bytes) -> bytes:
    """:func:`out` on encoded bytes; the bytes themselves when nothing changes."""
    if not needed(rt):
        return raw
    return orjson.dumps(out(rt, orjson.loads(raw)))
