"""Serving one stored object under several representations.

Two cases share storage with another representation, as in kube-apiserver:

* ``events.k8s.io/v1`` Events are stored as core ``v1`` Events, so ``kubectl describe``
  (which lists core events) shows events recorded through the newer API, and vice versa;
  the fields are renamed both ways (``regarding`` ↔ ``involvedObject``, ``note`` ↔
  ``message``, ``deprecated*`` ↔ the core names...);
* ``autoscaling/v1`` HorizontalPodAutoscalers are stored as ``autoscaling/v2`` ones (the
  CPU target becomes a Resource metric), so ``kubectl autoscale`` and v2 clients see the
  same objects;
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


def _hpa_into(obj: Obj) -> Obj:
    """autoscaling/v1 → v2."""
    out = {**obj, "apiVersion": "autoscaling/v2"}
    spec = dict(obj.get("spec") or {})
    target = spec.pop("targetCPUUtilizationPercentage", None)
    if target is not None:
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        ]
    out["spec"] = spec
    if "status" in obj:
        status = dict(obj["status"] or {})
        current = status.pop("currentCPUUtilizationPercentage", None)
        if current is not None:
            status["currentMetrics"] = [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "current": {"averageUtilization": current}},
                }
            ]
        out["status"] = status
    return out


def _cpu(metrics: Any, key: str, field: str) -> Any:
    for m in metrics or []:
        if not isinstance(m, dict):
            continue
        res = m.get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            return (res.get(key) or {}).get(field)
    return None


def _hpa_out(obj: Obj) -> Obj:
    """autoscaling/v2 → v1: the CPU utilization target and reading; v1 cannot express the
    other metrics (kube keeps them in annotations; we leave them out)."""
    out = {**obj, "apiVersion": "autoscaling/v1"}
    spec = dict(obj.get("spec") or {})
    metrics = spec.pop("metrics", None)
    spec.pop("behavior", None)
    target = _cpu(metrics, "target", "averageUtilization")
    if target is not None:
        spec["targetCPUUtilizationPercentage"] = target
    out["spec"] = spec
    if "status" in obj:
        status = dict(obj["status"] or {})
        current = _cpu(status.pop("currentMetrics", None), "current", "averageUtilization")
        status.pop("conditions", None)
        if current is not None:
            status["currentCPUUtilizationPercentage"] = current
        out["status"] = status
    return out


#: (group resource, served version) → (to storage, from storage)
_CONVERTERS: dict[tuple[str, str], tuple[Callable[[Obj], Obj], Callable[[Obj], Obj]]] = {
    ("events.events.k8s.io", "v1"): (_event_into, _event_out),
    ("horizontalpodautoscalers.autoscaling", "v1"): (_hpa_into, _hpa_out),
}


def needed(rt: resources.ResourceType) -> bool:
    """Whether objects of ``rt`` are stored in another representation."""
    if (rt.group_resource, rt.version) in _CONVERTERS:
        return True
    return rt.is_custom and rt.storage_version not in (None, rt.version)


def into(rt: resources.ResourceType, obj: Obj) -> Obj:
    """The stored form of an object sent to ``rt``."""
    conv = _CONVERTERS.get((rt.group_resource, rt.version))
    if conv is not None:
        return conv[0](obj)
    if rt.is_custom and rt.storage_version not in (None, rt.version):
        return {**obj, "apiVersion": f"{rt.group}/{rt.storage_version}"}
    return obj


def out(rt: resources.ResourceType, obj: Obj) -> Obj:
    """An object as ``rt`` serves it, from its stored form."""
    conv = _CONVERTERS.get((rt.group_resource, rt.version))
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
