"""The simulated DaemonSet controller (kube-controller-manager's ``daemonset``).

Design, following ``pkg/controller/daemon``:

* Nodes come from the store. A node should run a daemon pod when the template's
  ``nodeSelector`` and required node affinity match it and every ``NoSchedule`` /
  ``NoExecute`` taint is tolerated, counting the tolerations kube adds to every daemon pod
  (not-ready / unreachable ``NoExecute``; disk-, memory-, pid-pressure and unschedulable
  ``NoSchedule``; network-unavailable for ``hostNetwork`` pods).
* Daemon pods are not given ``spec.nodeName``: as in kube (since ScheduleDaemonSetPods)
  their required node affinity is replaced by one term ``matchFields metadata.name In
  [<node>]`` and the scheduler binds them. The node a pod belongs to is read back from
  ``nodeName`` if bound, else from that term.
* Surplus pods (on nodes that should not run one, duplicates, or failed) are deleted.
* Each template revision is a ``ControllerRevision`` (shared helper of the StatefulSet
  controller, trimmed to ``revisionHistoryLimit``); pods carry ``controller-revision-hash``
  and ``pod-template-generation``.
  ``RollingUpdate`` deletes out-of-date pods while at most ``maxUnavailable`` (default 1,
  integer or percent) desired nodes lack an available pod; the replacement is created at
  the new revision on the next pass. ``OnDelete`` only replaces pods a client deleted.
  ``maxSurge`` is not simulated.
* Status counts as kube does so ``kubectl rollout status ds/x`` works.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.simulation.statefulsets import (
    REVISION_LABEL,
    count_available,
    ensure_revision,
    pod_ready,
    revision_hash,
    trim_history,
)
from pilothouse.apiserver.store import records

Obj = dict[str, Any]

_AUTO_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
_NETWORK_TOLERATION: Obj = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}


def daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """The pod's tolerations plus the ones kube adds to every daemon pod."""
    out = list(pod_spec.get("tolerations") or [])
    auto = list(_AUTO_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        auto.append(_NETWORK_TOLERATION)
    for t in auto:
        if not any(o.get("key") == t["key"] and o.get("effect") == t["effect"] for o in out):
            out.append(dict(t))
    return out


def _tolerates(toleration: Obj, taint: Obj) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (
        taint.get("value") or ""
    )


def _requirement(req: Obj, values: dict[str, str]) -> bool:
    key, op, want = req.get("key", ""), req.get("operator", ""), req.get("values") or []
    have = values.get(key)
    if op == "In":
        return have is not None and have in want
    if op == "NotIn":
        return have is None or have not in want
    if op == "Exists":
        return have is not None
    if op == "DoesNotExist":
        return have is None
    if op in ("Gt", "Lt") and have is not None and want:
        try:
            a, b = int(have), int(want[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def node_matches(pod_spec: Obj, node: Obj) -> bool:
    """nodeSelector, required node affinity and NoSchedule/NoExecute taints."""
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (
        ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    if required:
        fields = {"metadata.name": node["metadata"]["name"]}
        if not any(
            all(_requirement(r, labels) for r in term.get("matchExpressions") or [])
            and all(_requirement(r, fields) for r in term.get("matchFields") or [])
            and (term.get("matchExpressions") or term.get("matchFields"))
            for term in required
        ):
            return False
    tolerations = daemon_tolerations(pod_spec)
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(_tolerates(t, taint) for t in tolerations):
            return False
    return True


def pin_to_node(pod_spec: Obj, node_name: str) -> Obj:
    """``pod_spec`` with its required node affinity replaced by ``metadata.name`` = node."""
    spec = copy.deepcopy(pod_spec)
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
        ]
    }
    spec["tolerations"] = daemon_tolerations(spec)
    return spec


def pod_node(pod: Obj) -> str | None:
    """The node a daemon pod runs on or is pinned to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    terms = (
        (
            ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
                "requiredDuringSchedulingIgnoredDuringExecution"
            )
        )
        or {}
    ).get("nodeSelectorTerms") or []
    for term in terms:
        for req in term.get("matchFields") or []:
            if req.get("key") == "metadata.name" and req.get("operator") == "In":
                values = req.get("values") or []
                if len(values) == 1:
                    return str(values[0])
    return None


def _max_unavailable(ds: Obj, desired: int) -> int:
    raw = (((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}).get(
        "maxUnavailable", 1
    )
    if isinstance(raw, str) and raw.endswith("%"):
        value = math.floor(desired * int(raw[:-1]) / 100)
    else:
        value = int(raw)
    return max(value, 1 if desired else 0)


class DaemonSetController(base.Controller):
    name = "daemonset-controller"
    resource = "daemonsets.apps"
    watches = ("pods", "nodes", "controllerrevisions.apps")

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        if event.record.group_resource == "nodes":
            # Heartbeats (status-only changes) cannot change where daemons should run.
            if event.prev is not None and event.type == records.MODIFIED:
                old, new = event.prev.obj(), event.record.obj()
                if old["metadata"].get("labels") == new["metadata"].get("labels") and (
                    old.get("spec") == new.get("spec")
                ):
                    return []
            return [(r.namespace, r.name) for r in self.st.store.iter(self.resource)]
        return super().keys_for(event)

    async def reconcile(self, key: base.Key) -> None:
        ns, name = key
        ds = self.get("daemonsets.apps", ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
        rev = revision_hash(template, collisions)
        await ensure_revision(self, ds, "DaemonSet", template, rev)

        pod_spec = template.get("spec") or {}
        nodes = {n["metadata"]["name"]: n for n in self.list_objects("nodes")}
        should_run = {n for n, node in nodes.items() if node_matches(pod_spec, node)}
        by_node: dict[str, list[Obj]] = {}
        for pod in self.owned_by("pods", ds):
            node = pod_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)

        for node_name in sorted(should_run):
            pods = [p for p in by_node.get(node_name, []) if not self._finished(p)]
            for p in by_node.get(node_name, []):
                if self._finished(p) and not p["metadata"].get("deletionTimestamp"):
                    await self.delete("pods", ns, p["metadata"]["name"])
            if not pods:
                await self.create("pods", ns, self._new_pod(ds, node_name, rev))
            else:
                pods.sort(key=lambda p: (not pod_ready(p), p["metadata"]["creationTimestamp"]))
                for extra in pods[1:]:
                    if not extra["metadata"].get("deletionTimestamp"):
                        await self.delete("pods", ns, extra["metadata"]["name"])
        for node_name, pods in by_node.items():
            if node_name in should_run:
                continue
            for p in pods:
                if not p["metadata"].get("deletionTimestamp"):
                    await self.delete("pods", ns, p["metadata"]["name"])

        if (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
            await self._rolling_update(ds, should_run, rev)
        await self._write_status(ds, should_run, rev)
        live = {
            f"{name}-{(p['metadata'].get('labels') or {}).get(REVISION_LABEL, '')}"
            for p in self.owned_by("pods", ds)
        }
        await trim_history(self, ds, live | {f"{name}-{rev}"})

    @staticmethod
    def _finished(pod: Obj) -> bool:
        return (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded")

    def _pods_by_node(self, ds: Obj) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for pod in self.owned_by("pods", ds):
            node = pod_node(pod)
            if node is not None:
                out.setdefault(node, []).append(pod)
        return out

    async def _rolling_update(self, ds: Obj, should_run: set[str], rev: str) -> None:
        ns = ds["metadata"]["namespace"]
        by_node = self._pods_by_node(ds)
        unavailable = 0
        old_ready: list[Obj] = []
        for node_name in sorted(should_run):
            pods = [p for p in by_node.get(node_name, []) if not self._finished(p)]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if not any(pod_ready(p) for p in live):
                unavailable += 1
            for p in live:
                if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == rev:
                    continue
                if pod_ready(p):
                    old_ready.append(p)
                else:
                    await self.delete("pods", ns, p["metadata"]["name"])
        budget = _max_unavailable(ds, len(should_run)) - unavailable
        for p in old_ready[: max(budget, 0)]:
            await self.delete("pods", ns, p["metadata"]["name"])

    def _new_pod(self, ds: Obj, node_name: str, rev: str) -> Obj:
        template = (ds.get("spec") or {}).get("template") or {}
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels[REVISION_LABEL] = rev
        labels["pod-template-generation"] = str(ds["metadata"].get("generation", 1))
        meta: Obj = {
            "generateName": f"{ds['metadata']['name']}-",
            "namespace": ds["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [base.controller_ref(ds, "apps/v1", "DaemonSet")],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        spec = pin_to_node(template.get("spec") or {}, node_name)
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}

    async def _write_status(self, ds: Obj, should_run: set[str], rev: str) -> None:
        by_node = self._pods_by_node(ds)
        current = ready = updated = misscheduled = 0
        ready_pods: list[Obj] = []
        for node_name, pods in by_node.items():
            live = [p for p in pods if not self._finished(p)]
            if not live:
                continue
            if node_name not in should_run:
                misscheduled += 1
                continue
            current += 1
            healthy = [p for p in live if pod_ready(p)]
            if healthy:
                ready += 1
                ready_pods.append(healthy[0])
            if any((p["metadata"].get("labels") or {}).get(REVISION_LABEL) == rev for p in live):
                updated += 1
        desired = len(should_run)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        key = (ds["metadata"]["namespace"], ds["metadata"]["name"])
        available = count_available(self, key, ready_pods, min_ready)
        old = ds.get("status") or {}
        status: Obj = {
            "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
        }
        if desired - available:
            status["numberUnavailable"] = desired - available
        if old.get("collisionCount"):
            status["collisionCount"] = old["collisionCount"]
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        await self.update_status("daemonsets.apps", ds, status)
