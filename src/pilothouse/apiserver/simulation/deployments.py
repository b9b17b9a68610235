"""The Deployment controller: ReplicaSets per template, rolling updates, rollout status.

As kube-controller-manager's ``DeploymentController`` (``pkg/controller/deployment``):

* the *new* ReplicaSet is the one whose template equals the Deployment's ignoring the
  ``pod-template-hash`` label (``EqualIgnoreHash``); it is created on demand as
  ``<deployment>-<hash>`` with that label added to its template and selector, and carries
  the ``deployment.kubernetes.io/revision`` (max old revision + 1, the reused revision
  moving to ``revision-history``, which is what ``kubectl rollout undo`` relies on),
  ``desired-replicas`` and ``max-replicas`` annotations plus the Deployment's own
  annotations (``kubernetes.io/change-cause`` for ``rollout history``). A name clash with a
  foreign ReplicaSet bumps ``status.collisionCount``;
* ``RollingUpdate`` follows ``NewRSNewReplicas`` / ``reconcileOldReplicaSets``: scale the new
  ReplicaSet up within ``replicas + maxSurge`` (percent rounded up), scale old ones down
  (unhealthy first, then oldest first) keeping ``replicas - maxUnavailable`` (rounded down)
  available; both 0 means maxUnavailable 1. ``Recreate`` scales old ones to 0, waits until
  none of their pods run, then scales the new one up;
* a scaling event with one active ReplicaSet resizes it directly; during a rollout the
  rolling-update arithmetic converges on the new size (kube's *proportional* scaling of
  every active ReplicaSet is not simulated);
* orphan ReplicaSets the selector matches are adopted (a Deployment re-created after an
  ``--cascade=orphan`` delete takes its ReplicaSets back); releasing is not simulated;
* a paused Deployment is only scaled, with ``Progressing=Unknown/DeploymentPaused``;
* old ReplicaSets at 0 replicas beyond ``revisionHistoryLimit`` are deleted, oldest
  revision first, once the rollout is complete;
* status mirrors ``calculateStatus`` and ``syncRolloutStatus``: ``Available``
  (MinimumReplicasAvailable) and ``Progressing`` (NewReplicaSetCreated, FoundNewReplicaSet,
  ReplicaSetUpdated, NewReplicaSetAvailable, or False/ProgressDeadlineExceeded after
  ``progressDeadlineSeconds`` without progress, re-checked when the deadline passes).

Status is read from the ReplicaSets' statuses, which the ReplicaSet controller keeps; the
Deployment controller watches ReplicaSets and, for ``Recreate``, their pods.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.simulation import deploymentstatus as ds
from pilothouse.apiserver.simulation import podtemplates as pt
from pilothouse.apiserver.store import records

Obj = dict[str, Any]
DEPLOY = "deployments.apps"
RS = "replicasets.apps"
PODS = "pods"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX = "deployment.kubernetes.io/max-replicas"
#: Deployment annotations not copied onto its ReplicaSets (``skipCopyAnnotation``).
_SKIP_COPY = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "deprecated.deployment.rollback.to",
}


def _revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _created(rs: Obj) -> tuple[str, str]:
    return (rs["metadata"].get("creationTimestamp", ""), rs["metadata"]["name"])


def fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a Deployment; (0, 0) unless RollingUpdate."""
    strategy = d["spec"].get("strategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    return pt.fenceposts(strategy.get("rollingUpdate"), ds.replicas(d))


def max_unavailable(d: Obj) -> int:
    """``deploymentutil.MaxUnavailable``: 0 for Recreate or zero replicas."""
    n = ds.replicas(d)
    if n == 0 or (d["spec"].get("strategy") or {}).get("type") == "Recreate":
        return 0
    return min(fenceposts(d)[1], n)


class DeploymentController(base.Controller):
    name = "deployment-controller"
    resource = DEPLOY
    watches = (RS, PODS)

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        keys: list[base.Key] = []
        if rec.group_resource == RS:
            keys += super().keys_for(event)
            if not keys and event.type != records.DELETED:
                # An orphan ReplicaSet: wake the Deployments that may adopt it.
                labels = rec.obj()["metadata"].get("labels")
                for d in self.st.store.iter(DEPLOY, rec.namespace):
                    if pt.selector_matches(d.obj()["spec"].get("selector"), labels):
                        keys.append((rec.namespace, d.name))
            return keys
        if rec.group_resource != PODS:
            return super().keys_for(event)
        # A pod wakes the Deployment controlling its ReplicaSet (for Recreate's wait).
        for r in (rec, event.prev):
            for ref in (r.obj()["metadata"].get("ownerReferences") or []) if r else []:
                owner = self.st.store.by_uid(ref.get("uid", ""))
                if ref.get("controller") and owner is not None and owner.group_resource == RS:
                    keys += [(rec.namespace, n) for n in self.owner_names(owner, None)]
        return keys

    async def reconcile(self, key: base.Key) -> None:
        d = self.get(DEPLOY, *key)
        if d is None:
            return
        rs_list = [rs for rs in self.owned_by(RS, d) if not pt.is_terminating(rs)]
        if pt.is_terminating(d):
            await self._status(d, self._find_new(d, rs_list), rs_list, None)
            return
        if await self._adopt(d):
            return
        if d["spec"].get("paused"):
            await self._sync_paused(d, rs_list)
        elif (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            await self._recreate(d, rs_list)
        else:
            await self._rolling(d, rs_list)

    async def _adopt(self, d: Obj) -> bool:
        """Adopt orphan ReplicaSets the selector matches (``ClaimReplicaSets``); True if
        one was (its update event brings us back)."""
        adopted = False
        selector = d["spec"].get("selector")
        for rs in self.selected(RS, d["metadata"]["namespace"], selector, ""):
            refs = rs["metadata"].get("ownerReferences") or []
            if pt.is_terminating(rs) or any(r.get("controller") for r in refs):
                continue
            if pt.selector_matches(selector, rs["metadata"].get("labels")):
                rs["metadata"]["ownerReferences"] = [
                    *refs,
                    base.controller_ref(d, "apps/v1", "Deployment"),
                ]
                await self.update(RS, rs)
                adopted = True
        return adopted

    # -- replica sets ----------------------------------------------------------------------

    def _find_new(self, d: Obj, rs_list: list[Obj]) -> Obj | None:
        template = d["spec"].get("template") or {}
        same = [rs for rs in rs_list if pt.equal_ignore_hash(rs["spec"]["template"], template)]
        return min(same, key=_created) if same else None

    async def _new_rs(self, d: Obj, rs_list: list[Obj], create: bool) -> tuple[Obj | None, bool]:
        """The new ReplicaSet with its revision synced (created if ``create``), and whether
        the caller must stop (a status write or a collision happened)."""
        new = self._find_new(d, rs_list)
        old = [
            rs for rs in rs_list if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]
        ]
        revision = max((_revision(rs) for rs in old), default=0) + 1
        surge, _ = fenceposts(d)
        n = ds.replicas(d)
        if new is not None:
            ann = dict(new["metadata"].get("annotations") or {})
            wanted = dict(ann)
            if _revision(new) < revision:
                if ann.get(REVISION):
                    history = [h for h in ann.get(REVISION_HISTORY, "").split(",") if h]
                    wanted[REVISION_HISTORY] = ",".join([*history, ann[REVISION]])
                wanted[REVISION] = str(revision)
            wanted[DESIRED], wanted[MAX] = str(n), str(n + surge)
            min_ready = d["spec"].get("minReadySeconds", 0)
            if wanted != ann or new["spec"].get("minReadySeconds", 0) != min_ready:
                new = copy.deepcopy(new)
                new["metadata"]["annotations"] = wanted
                new["spec"]["minReadySeconds"] = min_ready
                new = await self.update(RS, new)
            d_ann = d["metadata"].get("annotations") or {}
            if d_ann.get(REVISION) != str(_revision(new)):
                # ``SetDeploymentRevision``: the Deployment shows its current revision.
                d = copy.deepcopy(d)
                d["metadata"]["annotations"] = {**d_ann, REVISION: str(_revision(new))}
                await self.update(DEPLOY, d)
                return new, True
            if not ds.condition(d, "Progressing"):
                await self._status(d, new, rs_list, ("True", "FoundNewReplicaSet", new))
                return new, True
            return new, False
        if not create:
            return None, False
        collisions = (d.get("status") or {}).get("collisionCount")
        template = copy.deepcopy(d["spec"].get("template") or {})
        h = pt.template_hash(template, collisions)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), pt.HASH_LABEL: h}
        selector = copy.deepcopy(d["spec"].get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), pt.HASH_LABEL: h}
        d_ann = d["metadata"].get("annotations") or {}
        ann = {k: v for k, v in d_ann.items() if k not in _SKIP_COPY}
        ann.update({REVISION: str(revision), DESIRED: str(n), MAX: str(n + surge)})
        rs_name = f"{d['metadata']['name']}-{h}"
        ns = d["metadata"]["namespace"]
        body: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": ns,
                "labels": tmeta["labels"],
                "annotations": ann,
                "ownerReferences": [base.controller_ref(d, "apps/v1", "Deployment")],
            },
            "spec": {
                "replicas": self._new_replicas(d, rs_list, None),
                "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        created = await self.create(RS, ns, body)
        if created is None:
            existing = self.get(RS, ns, rs_name)
            owned = existing is not None and any(
                r.get("uid") == d["metadata"]["uid"]
                for r in existing["metadata"].get("ownerReferences") or []
            )
            if (
                existing is not None
                and owned
                and pt.equal_ignore_hash(existing["spec"]["template"], d["spec"]["template"])
            ):
                return existing, False
            status = dict(d.get("status") or {}, collisionCount=(collisions or 0) + 1)
            await self.update_status(DEPLOY, d, status)
            return None, True
        await self._status(
            d, created, [*rs_list, created], ("True", "NewReplicaSetCreated", created)
        )
        return created, True

    def _new_replicas(self, d: Obj, rs_list: list[Obj], new: Obj | None) -> int:
        """``NewRSNewReplicas``."""
        n = ds.replicas(d)
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            return n
        current_new = ds.replicas(new) if new is not None else 0
        surge, _ = fenceposts(d)
        total = sum(ds.replicas(rs) for rs in rs_list)
        if total >= n + surge:
            return current_new
        return current_new + max(min(n + surge - total, n - current_new), 0)

    async def _scale(self, d: Obj, rs: Obj, replicas: int) -> bool:
        ann = dict(rs["metadata"].get("annotations") or {})
        surge, _ = fenceposts(d)
        wanted = dict(ann, **{DESIRED: str(ds.replicas(d)), MAX: str(ds.replicas(d) + surge)})
        if ds.replicas(rs) == replicas and wanted == ann:
            return False
        rs = copy.deepcopy(rs)
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["annotations"] = wanted
        await self.update(RS, rs)
        return True

    # -- strategies ----------------------------------------------------------------------

    async def _sync_paused(self, d: Obj, rs_list: list[Obj]) -> None:
        new, stop = await self._new_rs(d, rs_list, create=False)
        if stop:
            return
        active = [rs for rs in rs_list if ds.replicas(rs) > 0]
        target = new if new is not None else (active[0] if len(active) == 1 else None)
        if target is not None and len(active) <= 1 and await self._scale(d, target, ds.replicas(d)):
            return
        await self._status(d, new, rs_list, ("Unknown", "DeploymentPaused", new))

    async def _rolling(self, d: Obj, rs_list: list[Obj]) -> None:
        new, stop = await self._new_rs(d, rs_list, create=True)
        if stop or new is None:
            return
        old = [rs for rs in rs_list if rs["metadata"]["uid"] != new["metadata"]["uid"]]
        n = ds.replicas(d)
        # Scale the new ReplicaSet up (or down to the size) first.
        want_new = n if ds.replicas(new) > n else self._new_replicas(d, rs_list, new)
        if not any(ds.replicas(rs) for rs in old):
            want_new = n
        if await self._scale(d, new, want_new):
            return
        if await self._scale_down_old(d, new, old):
            return
        await self._status(d, new, rs_list, None)

    async def _scale_down_old(self, d: Obj, new: Obj, old: list[Obj]) -> bool:
        """``reconcileOldReplicaSets``: True if some old ReplicaSet was scaled."""
        if not sum(ds.replicas(rs) for rs in old):
            return False
        all_rs = [new, *old]
        all_pods = sum(ds.replicas(rs) for rs in all_rs)
        min_available = ds.replicas(d) - max_unavailable(d)
        new_unavailable = ds.replicas(new) - ds.status_count(new, "availableReplicas")
        max_down = all_pods - min_available - new_unavailable
        if max_down <= 0:
            return False
        scaled = False
        # Unhealthy old replicas first.
        cleaned = 0
        for rs in sorted(old, key=_created):
            if cleaned >= max_down:
                break
            unhealthy = ds.replicas(rs) - ds.status_count(rs, "availableReplicas")
            if unhealthy <= 0:
                continue
            down = min(unhealthy, max_down - cleaned)
            scaled |= await self._scale(d, rs, ds.replicas(rs) - down)
            cleaned += down
        if scaled:
            return True
        available = sum(ds.status_count(rs, "availableReplicas") for rs in all_rs)
        budget = available - min_available
        for rs in sorted(old, key=_created):
            if budget <= 0:
                break
            down = min(ds.replicas(rs), budget)
            if down > 0:
                scaled |= await self._scale(d, rs, ds.replicas(rs) - down)
                budget -= down
        return scaled

    async def _recreate(self, d: Obj, rs_list: list[Obj]) -> None:
        new, stop = await self._new_rs(d, rs_list, create=False)
        if stop:
            return
        old = [
            rs for rs in rs_list if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]
        ]
        scaled = False
        for rs in old:
            if ds.replicas(rs):
                scaled |= await self._scale(d, rs, 0)
        if scaled:
            return
        running = sum(ds.status_count(rs, "replicas") for rs in old) > 0 or any(
            (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            for rs in old
            for p in self.owned_by(PODS, rs)
        )
        if running:
            await self._status(d, new, rs_list, None)
            return
        if new is None:
            new, stop = await self._new_rs(d, rs_list, create=True)
            if stop or new is None:
                return
        if await self._scale(d, new, ds.replicas(d)):
            return
        await self._status(d, new, rs_list, None)

    # -- cleanup and status ----------------------------------------------------------------

    async def _cleanup(self, d: Obj, new: Obj | None, rs_list: list[Obj]) -> None:
        limit = d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        cleanable = [
            rs
            for rs in rs_list
            if (new is None or rs["metadata"]["uid"] != new["metadata"]["uid"])
            and ds.replicas(rs) == 0
            and ds.status_count(rs, "replicas") == 0
            and rs["metadata"].get("generation", 1) <= ds.status_count(rs, "observedGeneration")
        ]
        cleanable.sort(key=lambda rs: (_revision(rs), _created(rs)))
        for rs in cleanable[: max(len(cleanable) - int(limit), 0)]:
            meta = rs["metadata"]
            await self.delete(RS, meta["namespace"], meta["name"], uid=meta["uid"])

    async def _status(
        self,
        d: Obj,
        new: Obj | None,
        rs_list: list[Obj],
        progressing: tuple[str, str, Obj | None] | None,
    ) -> None:
        status, complete, recheck = ds.compute(
            d,
            new,
            rs_list,
            progressing,
            now=self.now(),
            clock=self.st.clock(),
            max_unavailable=max_unavailable(d),
        )
        if complete and not d["spec"].get("paused") and not pt.is_terminating(d):
            await self._cleanup(d, new, rs_list)
        await self.update_status(DEPLOY, d, status)
        if recheck is not None:
            self.after((d["metadata"]["namespace"], d["metadata"]["name"]), recheck)
