"""The simulated kube-scheduler: binds pending pods to nodes.

Design choices:

* The filters are those of the default profile that matter without real containers, in
  kube's order, and a node fails at the first filter that rejects it (so each node counts
  once in the failure message): NodeUnschedulable, TaintToleration (NoSchedule/NoExecute),
  NodeAffinity (nodeSelector + required node affinity), NodeResourcesFit (cpu, memory,
  ephemeral-storage, pod count, against the sum of the requests of the non-terminal pods
  bound to the node).
* The failure is reported the way kube does: ``PodScheduled=False`` reason ``Unschedulable``
  with ``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node
  affinity/selector.`` (reason counts sorted as strings). The pod is retried whenever a node
  changes or a bound pod goes away or finishes -- level-triggered, no backoff needed.
* Scoring is LeastAllocated with kube's non-zero defaults (100m cpu, 200Mi memory for pods
  that request nothing), so even best-effort pods spread across nodes; ties go to the node
  with fewer pods, then the lowest name, which keeps placement deterministic.
* Binding goes through :func:`.subresources.bind`, the ``pods/binding`` path a real
  scheduler uses. The worker is sequential, so each decision sees the previous binding.
* Only pods with ``schedulerName: default-scheduler`` are scheduled; preemption and
  inter-pod (anti-)affinity / topology spread are not simulated.
"""

from __future__ import annotations

import decimal
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pilothouse.api import quantity as _quantity
from pilothouse.apiserver import state
from pilothouse.apiserver.rest import subresources
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.store import records

SCHEDULER_NAME = "default-scheduler"
RESOURCES = ("cpu", "memory", "ephemeral-storage")
#: kube's defaults for scoring pods that request nothing (schedutil.DefaultMilliCPURequest...).
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
UNSCHEDULABLE = "node(s) were unschedulable"


def quantity(value: Any, milli: bool = False) -> int:
    """A quantity as an integer (millis for cpu), rounding up like kube's MilliValue/Value."""
    q = _quantity.parse(value)
    if q is None:
        return 0
    v = q.value * 1000 if milli else q.value
    return int(v.to_integral_value(rounding=decimal.ROUND_CEILING))


def _amounts(resources: Mapping[str, Any] | None) -> dict[str, int]:
    return {k: quantity(v, milli=k == "cpu") for k, v in (resources or {}).items()}


def pod_requests(pod: Mapping[str, Any]) -> dict[str, int]:
    """Effective requests: max(sum of containers, any init container) plus overhead."""
    spec = pod.get("spec") or {}
    total: Counter[str] = Counter()
    for c in spec.get("containers") or []:
        total.update(_amounts((c.get("resources") or {}).get("requests")))
    for c in spec.get("initContainers") or []:
        for k, v in _amounts((c.get("resources") or {}).get("requests")).items():
            total[k] = max(total[k], v)
    total.update(_amounts(spec.get("overhead")))
    return dict(total)


def allocatable(node: Mapping[str, Any]) -> dict[str, int]:
    status = node.get("status") or {}
    return _amounts(status.get("allocatable") or status.get("capacity"))


def is_active(pod: Mapping[str, Any]) -> bool:
    """Whether a bound pod still holds its node's resources."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _expression_matches(expr: Mapping[str, Any], value: str | None) -> bool:
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            actual, bound = int(value), int(values[0])
        except ValueError:
            return False
        return actual > bound if op == "Gt" else actual < bound
    return False


def term_matches(term: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    """One nodeSelectorTerm: all its expressions and fields hold (an empty term matches
    nothing, as in kube)."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = node["metadata"].get("labels") or {}
    for e in exprs:
        if not _expression_matches(e, labels.get(e.get("key"))):
            return False
    for f in fields:
        value = node["metadata"]["name"] if f.get("key") == "metadata.name" else None
        if not _expression_matches(f, value):
            return False
    return True


def affinity_matches(pod: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms is None:
        return True
    return any(term_matches(t, node) for t in terms)


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(pod: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return dict(taint)
    return None


def filter_node(
    pod: Mapping[str, Any], node: Mapping[str, Any], bound: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Why ``pod`` cannot go to ``node`` (empty: it fits). ``bound``: the node's pods."""
    if (node.get("spec") or {}).get("unschedulable"):
        unsched = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
        tols = (pod.get("spec") or {}).get("tolerations") or []
        if not any(tolerates(t, unsched) for t in tols):
            return [UNSCHEDULABLE]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"]
    if not affinity_matches(pod, node):
        return [AFFINITY_MISMATCH]
    alloc = allocatable(node)
    used: Counter[str] = Counter()
    count = 0
    for other in bound:
        if is_active(other):
            used.update(pod_requests(other))
            count += 1
    reasons = []
    if count + 1 > alloc.get("pods", 110):
        reasons.append("Too many pods")
    for res, want in sorted(pod_requests(pod).items()):
        if want <= 0 or (res not in alloc and res not in RESOURCES):
            continue  # extended resources a node doesn't list are not checked
        if used[res] + want > alloc.get(res, 0):
            reasons.append(f"Insufficient {res}")
    return reasons


def score(pod: Mapping[str, Any], node: Mapping[str, Any], bound: list[Mapping[str, Any]]) -> float:
    """LeastAllocated: the mean free fraction of cpu and memory after placing ``pod``."""
    alloc = allocatable(node)
    total = 0.0
    for res, default in (("cpu", DEFAULT_MILLI_CPU), ("memory", DEFAULT_MEMORY)):
        cap = alloc.get(res, 0)
        if cap <= 0:
            continue
        used = sum(pod_requests(p).get(res) or default for p in (*bound, pod) if is_active(p))
        total += max(cap - used, 0) / cap
    return total / 2


def schedule(
    pod: Mapping[str, Any],
    nodes: Sequence[Mapping[str, Any]],
    pods_by_node: Mapping[str, list[Mapping[str, Any]]],
) -> tuple[str | None, str]:
    """The node to bind ``pod`` to, or None and kube's FitError message."""
    feasible: list[tuple[float, int, str]] = []
    histogram: Counter[str] = Counter()
    for node in nodes:
        name = node["metadata"]["name"]
        bound = pods_by_node.get(name, [])
        reasons = filter_node(pod, node, bound)
        if reasons:
            histogram.update(reasons)
        else:
            active = [p for p in bound if is_active(p)]
            feasible.append((-score(pod, node, active), len(active), name))
    if feasible:
        return min(feasible)[2], ""
    parts = sorted(f"{n} {reason}" for reason, n in histogram.items())
    msg = f"0/{len(nodes)} nodes are available"
    return None, f"{msg}: {', '.join(parts)}." if parts else f"{msg}."


def _wants_scheduling(pod: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and (spec.get("schedulerName") or SCHEDULER_NAME) == SCHEDULER_NAME
        and not pod["metadata"].get("deletionTimestamp")
        and is_active(pod)
    )


class Scheduler(base.Controller):
    name = "default-scheduler"
    resource = "pods"
    watches = ("nodes",)
    manager = "kube-scheduler"

    def __init__(self, st: state.ServerState, config: base.SimulationConfig) -> None:
        super().__init__(st, config)
        self._decoded: dict[str, tuple[int, Mapping[str, Any]]] = {}

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        if rec.group_resource == "pods":
            pod = rec.obj()
            if _wants_scheduling(pod):
                return [(rec.namespace, rec.name)]
            if not (pod.get("spec") or {}).get("nodeName"):
                return []
            freed = event.type == "DELETED" or not is_active(pod)
            prev = event.prev.obj() if event.prev is not None else None
            if freed and (prev is None or is_active(prev) or event.type == "DELETED"):
                return self._pending()
            return []
        return self._pending()  # a node changed: every pending pod may fit now

    def _pending(self) -> list[base.Key]:
        return [
            (r.namespace, r.name)
            for r in self.st.store.iter("pods")
            if not (r.fields or {}).get("spec.nodeName") and _wants_scheduling(r.obj())
        ]

    def _bound_pods(self) -> dict[str, list[Mapping[str, Any]]]:
        """Bound pods by node. Decoded pods are cached by (uid, resourceVersion): every
        scheduling decision needs them all, and decoding thousands of pods per decision
        made scheduling quadratic."""
        by_node: dict[str, list[Mapping[str, Any]]] = {}
        live: set[str] = set()
        for r in self.st.store.iter("pods"):
            node_name = (r.fields or {}).get("spec.nodeName")
            if not node_name:
                continue
            live.add(r.uid)
            hit = self._decoded.get(r.uid)
            if hit is None or hit[0] != r.rv:
                hit = self._decoded[r.uid] = (r.rv, r.obj())
            by_node.setdefault(node_name, []).append(hit[1])
        if len(self._decoded) > 2 * len(live) + 100:
            self._decoded = {u: v for u, v in self._decoded.items() if u in live}
        return by_node

    async def reconcile(self, key: base.Key) -> None:
        pod = self.get("pods", *key)
        if pod is None or not _wants_scheduling(pod):
            return
        nodes = [
            n for n in self.list_objects("nodes") if not n["metadata"].get("deletionTimestamp")
        ]
        by_node = self._bound_pods()
        chosen, message = schedule(pod, nodes, by_node)
        if chosen is not None:
            binding = {
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": key[1], "namespace": key[0]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": chosen},
            }
            await subresources.bind(self.st, self._ctx("pods", *key, "binding"), binding, key[1])
            return
        status = dict(pod.get("status") or {})
        conds = [dict(c) for c in status.get("conditions") or []]
        new = base.set_condition(
            conds, "PodScheduled", "False", "Unschedulable", message, self.now()
        )
        for c in new:
            if c["type"] == "PodScheduled":
                c.setdefault("lastProbeTime", None)
        status["conditions"] = new
        status.setdefault("phase", "Pending")
        await self.update_status("pods", pod, status)
