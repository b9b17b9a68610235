"""The simulated HorizontalPodAutoscaler controller (autoscaling/v2).

Design choices:

* No metrics server exists, so the per-pod CPU utilization (percent of the request) is read
  from the pod annotation ``pilothouse.dev/cpu-utilization`` (:data:`CPU_ANNOTATION`), which
  tests and demos set. Only ``Resource`` metrics on ``cpu`` with an ``Utilization`` target are
  understood (the default when ``metrics`` is empty is 80% CPU, as upstream); others make
  ``ScalingActive`` False.
* The average is taken over the target's ready pods that report the metric (selected with the
  target's ``spec.selector``); as upstream, desired = ceil(pods * average / target) with
  ``pods`` the number of those pods (not ``spec.replicas``: scaling a target whose pods have
  not appeared yet must not compound), unchanged within the 0.1 tolerance, then stabilized
  with upstream's algorithm: recommendations are kept in memory per HPA and the scale-up
  (default 0s) / scale-down (default 300s) stabilization windows of ``spec.behavior`` pick
  the min / max within them. Rate-limiting ``policies`` are not simulated.
* The target is scaled by writing its ``spec.replicas`` (Deployments, StatefulSets,
  ReplicaSets, ReplicationControllers), which is what the scale subresource does.
* Reconciles on HPA, pod and target changes and every 15 seconds (the upstream sync period)
  via :meth:`Controller.after`.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from pilothouse.api import labels
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.store import records

RESOURCE = "horizontalpodautoscalers.autoscaling"
CPU_ANNOTATION = "pilothouse.dev/cpu-utilization"
TOLERANCE = 0.1
SYNC_PERIOD = 15.0
_TARGETS = {
    "Deployment": "deployments.apps",
    "StatefulSet": "statefulsets.apps",
    "ReplicaSet": "replicasets.apps",
    "ReplicationController": "replicationcontrollers",
}


def _ready(pod: base.Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def desired_replicas(current: int, pods: int, utilization: float, target: float) -> int:
    """Upstream's replica calculation for a utilization target: ``current`` within the
    tolerance, else ceil(ratio * the number of pods reporting the metric)."""
    ratio = utilization / target
    if abs(ratio - 1.0) <= TOLERANCE:
        return current
    return math.ceil(ratio * pods)


def _cpu_target(spec: base.Obj) -> int | None:
    metrics = spec.get("metrics") or []
    if not metrics:
        return 80
    for m in metrics:
        res = m.get("resource") or {}
        tgt = res.get("target") or {}
        if (
            m.get("type") == "Resource"
            and res.get("name") == "cpu"
            and tgt.get("type") == "Utilization"
        ):
            return int(tgt.get("averageUtilization", 80))
    return None


def _window(behavior: base.Obj, direction: str, default: int) -> int:
    rules = behavior.get(direction) or {}
    value = rules.get("stabilizationWindowSeconds")
    return default if value is None else int(value)


class HorizontalPodAutoscalerController(base.Controller):
    name = "horizontal-pod-autoscaler"
    resource = RESOURCE
    watches = ("pods", *_TARGETS.values())

    def __init__(self, st: Any, config: base.SimulationConfig) -> None:
        super().__init__(st, config)
        #: Per HPA uid: (time, recommendation) within the longest stabilization window.
        self._recommendations: dict[str, list[tuple[dt.datetime, int]]] = {}

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        if rec.group_resource == RESOURCE:
            return [(rec.namespace, rec.name)]
        keys = []
        for hpa in self.st.store.iter(RESOURCE, rec.namespace):
            ref = (hpa.obj().get("spec") or {}).get("scaleTargetRef") or {}
            if rec.group_resource == "pods" or (
                _TARGETS.get(ref.get("kind", "")) == rec.group_resource
                and ref.get("name") == rec.name
            ):
                keys.append((hpa.namespace, hpa.name))
        return keys

    async def reconcile(self, key: base.Key) -> None:
        hpa = self.get(RESOURCE, *key)
        if hpa is None or hpa["metadata"].get("deletionTimestamp"):
            return
        self.after(key, SYNC_PERIOD)
        spec = hpa.get("spec") or {}
        status: dict[str, Any] = copy.deepcopy(hpa.get("status") or {})
        conds: list[base.Obj] = list(status.get("conditions") or [])
        now, now_s = self.st.clock(), self.now()
        ref = spec.get("scaleTargetRef") or {}
        gr = _TARGETS.get(ref.get("kind", ""))
        target = self.get(gr, key[0], ref.get("name", "")) if gr else None
        status["observedGeneration"] = hpa["metadata"].get("generation", 1)
        if gr is None or target is None:
            conds = base.set_condition(
                conds,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: "
                f'{ref.get("kind", "").lower()}s "{ref.get("name", "")}" not found',
                now_s,
            )
            await self._write(hpa, status, conds)
            return
        current = int((target.get("spec") or {}).get("replicas", 1))
        status["currentReplicas"] = int((target.get("status") or {}).get("replicas", current))
        conds = base.set_condition(
            conds, "AbleToScale", "True", "SucceededGetScale",
            "the HPA controller was able to get the target's current scale", now_s,
        )  # fmt: skip
        if current == 0:
            conds = base.set_condition(
                conds, "ScalingActive", "False", "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero", now_s,
            )  # fmt: skip
            status["desiredReplicas"] = 0
            await self._write(hpa, status, conds)
            return
        goal = _cpu_target(spec)
        values = self._pod_metrics(target) if goal is not None else []
        if goal is None or not values:
            reason = "InvalidMetricSourceType" if goal is None else "FailedGetResourceMetric"
            conds = base.set_condition(
                conds, "ScalingActive", "False", reason,
                "the HPA was unable to compute the replica count: no metrics returned", now_s,
            )  # fmt: skip
            status.setdefault("desiredReplicas", current)
            await self._write(hpa, status, conds)
            return
        avg = sum(values) / len(values)
        status["currentMetrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "current": {"averageUtilization": round(avg)}},
            }
        ]
        conds = base.set_condition(
            conds, "ScalingActive", "True", "ValidMetricFound",
            "the HPA was able to successfully calculate a replica count from cpu resource "
            "utilization (percentage of request)", now_s,
        )  # fmt: skip
        raw = desired_replicas(current, len(values), avg, goal)
        desired = self._stabilize(hpa, current, raw, now)
        lo, hi = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
        if desired > hi:
            desired = hi
            conds = base.set_condition(
                conds, "ScalingLimited", "True", "TooManyReplicas",
                "the desired replica count is more than the maximum replica count", now_s,
            )  # fmt: skip
        elif desired < lo:
            desired = lo
            conds = base.set_condition(
                conds, "ScalingLimited", "True", "TooFewReplicas",
                "the desired replica count is less than the minimum replica count", now_s,
            )  # fmt: skip
        else:
            conds = base.set_condition(
                conds, "ScalingLimited", "False", "DesiredWithinRange",
                "the desired count is within the acceptable range", now_s,
            )  # fmt: skip
        status["desiredReplicas"] = desired
        if desired != current:
            scaled = copy.deepcopy(target)
            scaled.setdefault("spec", {})["replicas"] = desired
            await self.update(gr, scaled)
            status["lastScaleTime"] = now_s
            conds = base.set_condition(
                conds, "AbleToScale", "True", "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}", now_s,
            )  # fmt: skip
        await self._write(hpa, status, conds)

    def _pod_metrics(self, target: base.Obj) -> list[float]:
        """The utilization annotations of the target's ready pods."""
        try:
            sel = labels.from_label_selector((target.get("spec") or {}).get("selector"))
        except ValueError:
            return []
        out = []
        for rec in self.st.store.iter("pods", target["metadata"]["namespace"]):
            if not sel.matches(rec.labels):
                continue
            pod = rec.obj()
            raw = (pod["metadata"].get("annotations") or {}).get(CPU_ANNOTATION)
            if raw is None or not _ready(pod) or pod["metadata"].get("deletionTimestamp"):
                continue
            try:
                out.append(float(raw))
            except ValueError:
                continue
        return out

    def _stabilize(self, hpa: base.Obj, current: int, raw: int, now: dt.datetime) -> int:
        """Upstream's ``stabilizeRecommendationWithBehaviors``."""
        behavior = (hpa.get("spec") or {}).get("behavior") or {}
        up = _window(behavior, "scaleUp", 0)
        down = _window(behavior, "scaleDown", 300)
        recs = self._recommendations.setdefault(hpa["metadata"]["uid"], [])
        keep = dt.timedelta(seconds=max(up, down))
        recs[:] = [(t, r) for t, r in recs if now - t <= keep]
        up_rec = down_rec = raw
        for t, r in recs:
            if now - t < dt.timedelta(seconds=up):
                up_rec = min(up_rec, r)
            if now - t < dt.timedelta(seconds=down):
                down_rec = max(down_rec, r)
        recs.append((now, raw))
        if current < up_rec:
            return up_rec
        if current > down_rec:
            return down_rec
        return current

    async def _write(self, hpa: base.Obj, status: dict[str, Any], conds: list[base.Obj]) -> None:
        status["conditions"] = conds
        status.setdefault("currentReplicas", 0)
        status.setdefault("desiredReplicas", 0)
        await self.update_status(RESOURCE, hpa, status)
