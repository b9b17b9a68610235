"""The disruption controller: PodDisruptionBudget status, and the eviction check.

Design choices:

* Status is computed as kube's DisruptionController does: ``expectedPods`` is the number of
  matching pods for an integer ``minAvailable``, otherwise the summed ``spec.replicas`` of
  the pods' controllers (a ReplicaSet owned by a Deployment counts the Deployment's
  replicas); a matching pod without a controller counts as one (kube refuses such budgets;
  the simulation is lenient). Percentages round up. ``currentHealthy`` counts Ready pods that
  are not being deleted and not recorded in ``disruptedPods``.
* :func:`check_eviction` is installed as ``ServerState.eviction_check`` when the controller
  starts and implements the eviction REST handler's budget check: 429 with kube's message
  and a ``DisruptionBudget`` cause when no disruption is allowed, else it decrements
  ``disruptionsAllowed`` and records the pod in ``disruptedPods`` (through the status
  subresource, with a resourceVersion precondition, so concurrent evictions cannot both
  spend the last allowed disruption). Entries leave ``disruptedPods`` once the pod is being
  deleted or gone, or after two minutes (kube's DeletionTimeout).
* Unhealthy (not Ready) pods may always be evicted when the budget is currently satisfied
  (``IfHealthyBudget``), or always with ``unhealthyPodEvictionPolicy: AlwaysAllow``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pilothouse.apiserver import errors, state
from pilothouse.apiserver.rest import context, options, writes
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.store import records

PDBS = "poddisruptionbudgets.policy"
EVICT_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."
DELETION_TIMEOUT = 120.0


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector; for PDBs an empty selector matches every pod (policy/v1)."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _matching_pdbs(st: state.ServerState, pod: base.Obj) -> list[base.Obj]:
    labels = pod["metadata"].get("labels") or {}
    ns = pod["metadata"].get("namespace", "")
    return [
        r.obj()
        for r in st.store.iter(PDBS, ns)
        if selector_matches((r.obj().get("spec") or {}).get("selector"), labels)
    ]


def is_ready(pod: base.Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        try:
            return math.ceil(int(value[:-1]) * total / 100)
        except ValueError:
            return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _controller_replicas(st: state.ServerState, pods: list[base.Obj]) -> int:
    total = 0
    seen: set[str] = set()
    for pod in pods:
        ref = next(
            (r for r in pod["metadata"].get("ownerReferences") or [] if r.get("controller")),
            None,
        )
        owner = st.store.by_uid(ref.get("uid", "")) if ref else None
        if owner is None:
            total += 1
            continue
        obj = owner.obj()
        if owner.group_resource == "replicasets.apps":
            dep_ref = next(
                (r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")),
                None,
            )
            dep = st.store.by_uid(dep_ref.get("uid", "")) if dep_ref else None
            if dep is not None and dep.group_resource == "deployments.apps":
                owner, obj = dep, dep.obj()
        if owner.uid in seen:
            continue
        seen.add(owner.uid)
        total += int((obj.get("spec") or {}).get("replicas", 1) or 0)
    return total


def _parse_time(value: str) -> float:
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def compute_status(st: state.ServerState, pdb: base.Obj) -> tuple[base.Obj, float | None]:
    """The budget's status, and seconds until a ``disruptedPods`` entry expires (or None)."""
    spec, old = pdb.get("spec") or {}, pdb.get("status") or {}
    ns = pdb["metadata"].get("namespace", "")
    pods = [
        r.obj()
        for r in st.store.iter("pods", ns)
        if selector_matches(spec.get("selector"), r.labels)
    ]
    now = st.clock().timestamp()
    by_name = {p["metadata"]["name"]: p for p in pods}
    disrupted: dict[str, str] = {}
    recheck: float | None = None
    for name, when in (old.get("disruptedPods") or {}).items():
        p = by_name.get(name)
        if p is None or p["metadata"].get("deletionTimestamp"):
            continue
        left = _parse_time(when) + DELETION_TIMEOUT - now
        if left <= 0:
            continue
        disrupted[name] = when
        recheck = left if recheck is None else min(recheck, left)
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if max_unavailable is not None:
        expected = _controller_replicas(st, pods)
        desired = max(0, expected - _scaled(max_unavailable, expected))
    elif min_available is not None:
        if isinstance(min_available, int):
            expected, desired = len(pods), min_available
        else:
            expected = _controller_replicas(st, pods)
            desired = _scaled(min_available, expected)
    else:
        expected, desired = len(pods), 0
    healthy = sum(
        1
        for p in pods
        if is_ready(p)
        and not p["metadata"].get("deletionTimestamp")
        and p["metadata"]["name"] not in disrupted
    )
    allowed = max(0, healthy - desired) if expected > 0 else 0
    conds = [dict(c) for c in old.get("conditions") or []]
    ok, why = ("True", "SufficientPods") if allowed > 0 else ("False", "InsufficientPods")
    conds = base.set_condition(conds, "DisruptionAllowed", ok, why, "", st.now())
    for c in conds:
        c["observedGeneration"] = pdb["metadata"].get("generation", 1)
    status: base.Obj = {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": conds,
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    return status, recheck


def _status_ctx(st: state.ServerState, pdb: base.Obj) -> context.RequestContext:
    rt = st.types.by_group_resource(PDBS)
    assert rt is not None
    meta = pdb["metadata"]
    ctx = context.RequestContext(
        rt, meta.get("namespace", ""), meta["name"], "status", user_agent="kube-apiserver"
    )
    ctx.options = options.WriteOptions(field_manager="kube-apiserver")
    return ctx


async def check_eviction(st: state.ServerState, pod: base.Obj) -> None:
    """Refuse (ApiError 429) an eviction that would violate a disruption budget; otherwise
    spend one of the budget's allowed disruptions."""
    meta, status = pod["metadata"], pod.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") in ("Succeeded", "Failed", "Pending"):
        return  # kube lets terminal, pending and terminating pods go without a budget check
    pdbs = _matching_pdbs(st, pod)
    if not pdbs:
        return
    if len(pdbs) > 1:
        raise errors.internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support."
        )
    pdb = pdbs[0]
    pstat = pdb.get("status") or {}
    name = pdb["metadata"]["name"]
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
    if not is_ready(pod):
        healthy_enough = pstat.get("currentHealthy", 0) >= pstat.get("desiredHealthy", 0)
        if policy == "AlwaysAllow" or healthy_enough:
            return
    if pstat.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
        raise _refused(f"The disruption budget {name} is still being processed by the server.")
    if pstat.get("disruptionsAllowed", 0) <= 0:
        raise _refused(
            f"The disruption budget {name} needs {pstat.get('desiredHealthy', 0)} healthy pods "
            f"and has {pstat.get('currentHealthy', 0)} currently"
        )
    new_status = dict(pstat)
    new_status["disruptionsAllowed"] = pstat["disruptionsAllowed"] - 1
    new_status["disruptedPods"] = {**(pstat.get("disruptedPods") or {}), meta["name"]: st.now()}
    rec = st.store.get(PDBS, pdb["metadata"].get("namespace", ""), name)
    if rec is None:
        return
    try:
        await writes.update(
            st, _status_ctx(st, pdb), dict(pdb, status=new_status), rec, expect_rv=rec.rv
        )
    except errors.ApiError as exc:
        if exc.code == 409:
            raise _refused(f"The disruption budget {name} is being updated; retry.") from None
        raise


def _refused(cause: str) -> errors.ApiError:
    return errors.ApiError(
        429,
        "TooManyRequests",
        EVICT_MESSAGE,
        {"causes": [{"reason": "DisruptionBudget", "message": cause}]},
    )


def _selects(pdb: records.Record, labels: Mapping[str, str]) -> bool:
    return selector_matches((pdb.obj().get("spec") or {}).get("selector"), labels)


class DisruptionController(base.Controller):
    name = "disruption-controller"
    resource = PDBS
    watches = ("pods",)

    def start(self) -> None:
        super().start()
        self.st.eviction_check = check_eviction

    async def stop(self) -> None:
        if self.st.eviction_check is check_eviction:
            self.st.eviction_check = None
        await super().stop()

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        if rec.group_resource == PDBS:
            return [(rec.namespace, rec.name)]
        labels = [r.labels for r in (rec, event.prev) if r is not None]
        return [
            (p.namespace, p.name)
            for p in self.st.store.iter(PDBS, rec.namespace)
            if any(
                selector_matches((p.obj().get("spec") or {}).get("selector"), lb) for lb in labels
            )
        ]

    async def reconcile(self, key: base.Key) -> None:
        pdb = self.get(PDBS, *key)
        if pdb is None or pdb["metadata"].get("deletionTimestamp"):
            return
        status, recheck = compute_status(self.st, pdb)
        old = pdb.get("status") or {}
        # Keep condition timestamps stable when nothing else changed.
        if {k: v for k, v in status.items() if k != "conditions"} == {
            k: v for k, v in old.items() if k != "conditions"
        } and [(c["type"], c["status"]) for c in status["conditions"]] == [
            (c.get("type"), c.get("status")) for c in old.get("conditions") or []
        ]:
            status["conditions"] = old.get("conditions")
        await self.update_status(PDBS, pdb, status)
        if recheck is not None:
            self.after(key, recheck)
