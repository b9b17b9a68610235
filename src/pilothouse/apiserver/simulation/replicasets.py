"""The ReplicaSet controller: keeps ``spec.replicas`` pods per ReplicaSet.

As kube-controller-manager's ``ReplicaSetController``:

* pods are *claimed* (``ClaimPods``): active pods controlled by the ReplicaSet that still
  match its selector are kept; ones that stop matching are released (the ownerReference
  is removed); orphans that match are adopted (a controller reference is added). A
  ReplicaSet being deleted neither adopts nor releases;
* missing pods are created from the template (``generateName: <rs>-``); extra pods are
  deleted preferring unscheduled, then pending, then not-ready, then recently-ready, then
  newest pods (``controller.ActivePods`` ordering, simplified);
* pods being deleted or finished don't count;
* status: ``replicas``, ``fullyLabeledReplicas``, ``readyReplicas``, ``availableReplicas``
  (Ready for ``minReadySeconds``, re-checked when that time elapses), ``observedGeneration``
  and a ``ReplicaFailure`` condition only while creating or deleting pods fails.

Kube needs "expectations" because its informer cache lags its own writes; ours reads the
store, which the write pipeline has committed to before a write returns, and the keyed
worker runs one reconcile per key at a time, so none are needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from pilothouse.apiserver import errors
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.simulation import podtemplates as pt
from pilothouse.apiserver.store import records

Obj = dict[str, Any]
RS = "replicasets.apps"
PODS = "pods"
#: At most this many pods are created or deleted per reconcile (kube's ``burstReplicas``).
BURST = 500


def _delete_rank(pod: Obj) -> tuple[Any, ...]:
    """Sort key: pods to delete first sort first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", ""), 0)
    since = pt.ready_since(pod)
    restarts = sum(int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
    created = (pod.get("metadata") or {}).get("creationTimestamp", "")
    return (
        1 if spec.get("nodeName") else 0,
        phase_rank,
        1 if since is not None else 0,
        # Ready for less time first: later readiness sorts first.
        -(since.timestamp() if since is not None else 0.0),
        -restarts,
        # Newer first: invert the timestamp string ordering.
        tuple(-ord(ch) for ch in created),
    )


class ReplicaSetController(base.Controller):
    name = "replicaset-controller"
    resource = RS
    watches = (PODS,)

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        keys = list(super().keys_for(event))
        rec = event.record
        if rec.group_resource == PODS and not keys and event.type != records.DELETED:
            # An orphan: wake the ReplicaSets that may adopt it.
            pod = rec.obj()
            if not pt.is_active(pod):
                return keys
            labels = pod["metadata"].get("labels") or {}
            for rs in self.st.store.iter(RS, rec.namespace):
                if pt.selector_matches(rs.obj().get("spec", {}).get("selector"), labels):
                    keys.append((rec.namespace, rs.name))
        return keys

    async def reconcile(self, key: base.Key) -> None:
        ns, name = key
        rs = self.get(RS, ns, name)
        if rs is None:
            return
        pods = await self._claim(rs)
        failure: tuple[str, str] | None = None
        if not pt.is_terminating(rs):
            failure = await self._manage(rs, pods)
            pods = [p for p in self.owned_by(PODS, rs) if pt.is_active(p)]
        await self._write_status(rs, pods, failure)

    # -- claiming ------------------------------------------------------------------------

    async def _claim(self, rs: Obj) -> list[Obj]:
        selector = rs["spec"].get("selector")
        uid = rs["metadata"]["uid"]
        deleting = pt.is_terminating(rs)
        claimed: list[Obj] = []
        for pod in self.selected(PODS, rs["metadata"]["namespace"], selector, uid):
            if not pt.is_active(pod):
                continue
            meta = pod["metadata"]
            refs = meta.get("ownerReferences") or []
            ctrl = next((r for r in refs if r.get("controller")), None)
            matches = pt.selector_matches(selector, meta.get("labels"))
            if ctrl is not None and ctrl.get("uid") == uid:
                if matches:
                    claimed.append(pod)
                elif not deleting:
                    meta["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    await self._write_pod(pod)
            elif ctrl is None and matches and not deleting:
                meta["ownerReferences"] = [
                    *refs,
                    base.controller_ref(rs, "apps/v1", "ReplicaSet"),
                ]
                adopted = await self._write_pod(pod)
                if adopted is not None:
                    claimed.append(adopted)
        return claimed

    async def _write_pod(self, pod: Obj) -> Obj | None:
        try:
            return await self.update(PODS, pod)
        except errors.ApiError as exc:
            if exc.code in (404, 409):
                return None  # Gone or changed: the event requeues us.
            raise

    # -- replicas ------------------------------------------------------------------------

    async def _manage(self, rs: Obj, pods: list[Obj]) -> tuple[str, str] | None:
        """Create or delete pods; returns (reason, message) of a failure."""
        want = int(rs["spec"].get("replicas", 1))
        diff = len(pods) - want
        meta = rs["metadata"]
        if diff < 0:
            template = rs["spec"].get("template") or {}
            ref = base.controller_ref(rs, "apps/v1", "ReplicaSet")
            for _ in range(min(-diff, BURST)):
                pod = pt.pod_from_template(template, ref, meta["name"])
                try:
                    await self.create(PODS, meta["namespace"], pod)
                except errors.ApiError as exc:
                    if exc.code == 409:
                        raise
                    return "FailedCreate", exc.message
        elif diff > 0:
            for pod in sorted(pods, key=_delete_rank)[: min(diff, BURST)]:
                try:
                    await self.delete(
                        PODS, meta["namespace"], pod["metadata"]["name"], uid=pod["metadata"]["uid"]
                    )
                except errors.ApiError as exc:
                    if exc.code == 409:
                        continue  # Replaced by a new pod of that name: not ours.
                    return "FailedDelete", exc.message
        return None

    # -- status --------------------------------------------------------------------------

    async def _write_status(
        self, rs: Obj, pods: list[Obj], failure: tuple[str, str] | None
    ) -> None:
        spec = rs["spec"]
        min_ready = int(spec.get("minReadySeconds", 0) or 0)
        now = self.st.clock()
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        fully = ready = available = 0
        wait = math.inf
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully += 1
            if pt.is_ready(pod):
                ready += 1
                left = pt.available_after(pod, min_ready, now)
                if left == 0.0:
                    available += 1
                else:
                    wait = min(wait, left)
        old = rs.get("status") or {}
        status: Obj = {
            "replicas": len(pods),
            "fullyLabeledReplicas": fully,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        for k in ("readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
            if not status[k]:
                del status[k]  # omitempty, as kube serialises them.
        conditions = [c for c in old.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        if failure is not None:
            conditions = base.set_condition(
                list(old.get("conditions") or []),
                "ReplicaFailure",
                "True",
                failure[0],
                failure[1],
                self.now(),
            )
        if conditions:
            status["conditions"] = conditions
        await self.update_status(RS, rs, status)
        key = (rs["metadata"]["namespace"], rs["metadata"]["name"])
        if wait != math.inf:
            self.after(key, wait + 0.05)
        if failure is not None:
            self.after(key, 1.0)
