"""Printers of replica-count policies: HorizontalPodAutoscalers (the ``Targets`` summary of
their metrics) and PodDisruptionBudgets.

Design choice: HPA metrics are read from the autoscaling/v2 shape we store, and print the way
upstream's ``formatHPAMetrics`` does (at most two, then ``+ N more...``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.printers.format import age, int_or_string, quantity
from pilothouse.apiserver.printers.reading import Obj, as_int, as_str, map_at, maps_at, name_of
from pilothouse.apiserver.printers.registry import AGE, NAME, column, register


def _hpa_value(value: Any) -> str:
    # A nil *resource.Quantity prints "<nil>".
    return "<nil>" if value is None else quantity(value)


def _hpa_metric(spec: Obj, status: Obj | None) -> str:
    kind = spec.get("type")
    key = {"External": "external", "Pods": "pods", "Object": "object"}.get(as_str(kind))
    key = key or {"Resource": "resource", "ContainerResource": "containerResource"}.get(
        as_str(kind)
    )
    if key is None:
        return "<unknown type>"
    target = map_at(spec, key, "target")
    current_of = map_at(status, key, "current") if status is not None else None
    has_status = status is not None and isinstance(status.get(key), Mapping)
    if key == "pods":
        current = _hpa_value(map_at(current_of).get("averageValue")) if has_status else "<unknown>"
        return f"{current}/{_hpa_value(target.get('averageValue'))}"
    prefix = (
        f"{as_str(map_at(spec, key).get('name'))}: "
        if key in ("resource", "containerResource")
        else ""
    )
    if target.get("averageValue") is not None:
        current = "<unknown>"
        avg = map_at(current_of).get("averageValue")
        if has_status and (prefix or avg is not None):
            current = _hpa_value(avg)
        suffix = "" if prefix else " (avg)"
        return f"{prefix}{current}/{_hpa_value(target['averageValue'])}{suffix}"
    if prefix:
        util = map_at(current_of).get("averageUtilization")
        current = f"{util}%" if has_status and isinstance(util, int) else "<unknown>"
        wanted = target.get("averageUtilization")
        return f"{prefix}{current}/{f'{wanted}%' if isinstance(wanted, int) else '<auto>'}"
    current = _hpa_value(map_at(current_of).get("value")) if has_status else "<unknown>"
    return f"{current}/{_hpa_value(target.get('value'))}"


_HPA = "autoscaling.v2.HorizontalPodAutoscaler"


@register(
    "autoscaling",
    "horizontalpodautoscalers",
    NAME,
    column("Reference", (f"{_HPA}Spec", "scaleTargetRef")),
    column("Targets", (f"{_HPA}Spec", "metrics")),
    column("MinPods", (f"{_HPA}Spec", "minReplicas")),
    column("MaxPods", (f"{_HPA}Spec", "maxReplicas")),
    column("Replicas", (f"{_HPA}Status", "currentReplicas")),
    AGE,
)
def _hpa(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(obj, "spec"), map_at(obj, "status")
    ref = map_at(spec, "scaleTargetRef")
    specs, statuses = maps_at(spec, "metrics"), maps_at(status, "currentMetrics")
    metrics = [
        _hpa_metric(m, statuses[i] if i < len(statuses) else None) for i, m in enumerate(specs)
    ]
    targets = ", ".join(metrics[:2]) + (
        f" + {len(metrics) - 2} more..." if len(metrics) > 2 else ""
    )
    min_pods = spec.get("minReplicas")
    return [
        name_of(obj),
        f"{as_str(ref.get('kind'))}/{as_str(ref.get('name'))}",
        targets or "<none>",
        str(min_pods) if isinstance(min_pods, int) else "<unset>",
        as_int(spec.get("maxReplicas")),
        as_int(status.get("currentReplicas")),
        age(obj, now),
    ]


@register(
    "policy",
    "poddisruptionbudgets",
    NAME,
    column("Min Available", "The minimum number of pods that must be available."),
    column("Max Unavailable", "The maximum number of pods that may be unavailable."),
    column(
        "Allowed Disruptions",
        "Calculated number of pods that may be disrupted at this time.",
        "integer",
    ),
    AGE,
)
def _pdb(obj: Obj, now: dt.datetime) -> list[Any]:
    spec = map_at(obj, "spec")
    return [
        name_of(obj),
        int_or_string(spec.get("minAvailable")) or "N/A",
        int_or_string(spec.get("maxUnavailable")) or "N/A",
        as_int(map_at(obj, "status").get("disruptionsAllowed")),
        age(obj, now),
    ]
