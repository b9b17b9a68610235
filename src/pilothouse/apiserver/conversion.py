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
  strategy ``None`` only ``apiVersion`` changes, with ``Webhook`` the CRD's conversion
  webhook converts (:mod:`.conversionwebhook`; a failure is a 500 with kube's message).

:func:`into` turns an object as the client sent it into its stored form, :func:`out` the
other way. Both copy only when they change something.

Webhook conversions are I/O, so they are coroutines run on the server's event loop:
:func:`into_async`, :func:`out_async`, :func:`out_list_async` (one review for a whole list,
as kube sends) and their encoded-bytes forms :func:`raw_out_async` and
:func:`raw_out_list_async`. The request handlers use only these. They check the conversion
strategy first and, without a webhook, do the work synchronously (nothing is awaited), so the
other kinds cost no more than before.

The synchronous :func:`into`, :func:`out` and :func:`raw_out` remain for conversions without
I/O -- the built-in renames and strategy ``None`` -- where the caller cannot await (decoding
and validation of built-in kinds). They never call a webhook: a conversion that needs one
raises :class:`WebhookConversionRequired`, a programming error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from pilothouse.apiserver import conversionwebhook, resources

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


def _storage_api_version(rt: resources.ResourceType) -> str | None:
    """The apiVersion a custom resource sent to ``rt`` is stored in, if another one."""
    if rt.is_custom and rt.storage_version not in (None, rt.version):
        return f"{rt.group}/{rt.storage_version}"
    return None


class WebhookConversionRequired(RuntimeError):
    """A synchronous conversion was asked of a type that converts through a webhook."""


def _custom(rt: resources.ResourceType, obj: Obj, api_version: str) -> Obj:
    """Strategy ``None``: only ``apiVersion`` changes."""
    if obj.get("apiVersion") == api_version:
        return obj
    if conversionwebhook.webhook_of(rt) is not None:
        raise WebhookConversionRequired(
            f"{rt.group_resource} converts through a webhook: use the async conversion forms"
        )
    return {**obj, "apiVersion": api_version}


def identity(rt: resources.ResourceType) -> bool:
    """Whether objects of ``rt`` are always served exactly as stored (nothing to convert).

    With a conversion webhook even the storage version is not: objects written under an
    earlier storage version keep it until rewritten, and must be converted when read.
    """
    return not needed(rt) and conversionwebhook.webhook_of(rt) is None


def into(rt: resources.ResourceType, obj: Obj) -> Obj:
    """The stored form of an object sent to ``rt`` (conversions without I/O only)."""
    conv = _CONVERTERS.get((rt.group_resource, rt.version))
    if conv is not None:
        return conv[0](obj)
    storage = _storage_api_version(rt)
    return obj if storage is None else _custom(rt, obj, storage)


def out(rt: resources.ResourceType, obj: Obj) -> Obj:
    """An object as ``rt`` serves it, from its stored form (conversions without I/O only)."""
    conv = _CONVERTERS.get((rt.group_resource, rt.version))
    if conv is not None:
        return conv[1](obj)
    if rt.is_custom:
        return _custom(rt, obj, rt.api_version)
    return obj


def raw_out(rt: resources.ResourceType, raw: bytes) -> bytes:
    """:func:`out` on encoded bytes; the bytes themselves when nothing changes."""
    if identity(rt):
        return raw
    obj = orjson.loads(raw)
    converted = out(rt, obj)
    return raw if converted is obj else orjson.dumps(converted)


async def into_async(rt: resources.ResourceType, obj: Obj) -> Obj:
    """:func:`into`, through the CRD's conversion webhook when it has one."""
    webhook = conversionwebhook.webhook_of(rt)
    if webhook is None:
        return into(rt, obj)
    storage = _storage_api_version(rt)
    if storage is None:
        return obj
    return (await webhook.convert([obj], storage))[0]


async def out_async(rt: resources.ResourceType, obj: Obj) -> Obj:
    """:func:`out`, through the CRD's conversion webhook when it has one."""
    webhook = conversionwebhook.webhook_of(rt)
    if webhook is None:
        return out(rt, obj)
    return (await webhook.convert([obj], rt.api_version))[0]


async def out_list_async(rt: resources.ResourceType, objs: Sequence[Obj]) -> list[Obj]:
    """:func:`out` of many objects: one ConversionReview for all that need converting.
    Objects that need no conversion are returned as they are (the same dicts)."""
    webhook = conversionwebhook.webhook_of(rt)
    if webhook is None:
        return [out(rt, o) for o in objs]
    return await webhook.convert(objs, rt.api_version)


async def raw_out_async(rt: resources.ResourceType, raw: bytes) -> bytes:
    """:func:`raw_out`, through the CRD's conversion webhook when it has one."""
    if conversionwebhook.webhook_of(rt) is None:
        return raw_out(rt, raw)
    return (await raw_out_list_async(rt, [raw]))[0]


async def raw_out_list_async(rt: resources.ResourceType, raws: Sequence[bytes]) -> list[bytes]:
    """:func:`raw_out` of many encoded objects, with one ConversionReview for all that need
    converting; the bytes of those that need nothing are kept as they are."""
    if identity(rt):
        return list(raws)
    if conversionwebhook.webhook_of(rt) is None:
        return [raw_out(rt, r) for r in raws]
    objs = [orjson.loads(r) for r in raws]
    converted = await out_list_async(rt, objs)
    return [
        raw if new is old else orjson.dumps(new)
        for raw, old, new in zip(raws, objs, converted, strict=True)
    ]
