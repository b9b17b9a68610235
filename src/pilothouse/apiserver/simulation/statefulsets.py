"""The simulated StatefulSet controller (kube-controller-manager's ``statefulset``).

Design, following ``pkg/controller/statefulset``:

* Pods are named ``<set>-<ordinal>`` and carry the identity labels
  ``statefulset.kubernetes.io/pod-name`` and ``apps.kubernetes.io/pod-index``, ``hostname``
  = pod name and ``subdomain`` = ``serviceName``. A deleted pod is recreated with the same
  name on the next reconcile (the pod's DELETED event wakes its owner).
* ``volumeClaimTemplates`` become PVCs ``<claim>-<set>-<ordinal>``, created before the pod.
  They are not owned by the set unless ``persistentVolumeClaimRetentionPolicy.whenDeleted``
  is ``Delete`` (then the set is a non-controller owner, so the garbage collector removes
  them with the set); ``whenScaled: Delete`` removes the claims of ordinals scaled away.
* Each template revision is a ``ControllerRevision`` ``<set>-<hash>``; pods carry the hash
  in ``controller-revision-hash``. The hash is a stable digest of the pod template (real
  kube uses fnv32a of the serialised revision; only stability matters for clients).
  Revisions beyond ``revisionHistoryLimit`` that nothing uses any more are deleted.
* ``OrderedReady`` (the default) creates ordinal *i* only once 0..i-1 are Running and
  Ready, and scales down one pod at a time from the highest ordinal; ``Parallel`` does
  both at once. ``RollingUpdate`` deletes (and thereby recreates at the update revision)
  the highest out-of-date ordinal at or above ``partition``, one at a time, once every
  pod is healthy; ``OnDelete`` only recreates pods a client deleted.
* Status mirrors the real controller's so ``kubectl rollout status sts/x`` works: the
  current revision becomes the update revision once every pod is updated and ready.

* ``availableReplicas`` counts pods Ready for ``minReadySeconds`` (by the Ready condition's
  ``lastTransitionTime`` against the server clock); the set is reconciled again when the
  next pod's wait elapses.

The helpers :func:`revision_hash`, :func:`pod_ready`, :func:`count_available` and
:func:`ensure_revision` are shared with the DaemonSet controller.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import re
from typing import Any

from pilothouse.apiserver.simulation import base

Obj = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def revision_hash(template: Obj, collision_count: int = 0) -> str:
    """A stable, label-safe digest of a pod template (as ``rand.SafeEncodeString``)."""
    raw = json.dumps([template, collision_count], sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(raw.encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


def pod_ready(pod: Obj) -> bool:
    """Running, Ready and not terminating: what the controllers call healthy."""
    if pod["metadata"].get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def available_in(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> float | None:
    """None if ``pod`` is not ready, else the seconds until it has been ready for
    ``minReadySeconds`` (0.0: available now)."""
    if not pod_ready(pod):
        return None
    if min_ready_seconds <= 0:
        return 0.0
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("lastTransitionTime"):
            try:
                since = datetime.datetime.fromisoformat(c["lastTransitionTime"])
            except ValueError:
                return 0.0
            return max(min_ready_seconds - (now - since).total_seconds(), 0.0)
    return 0.0


def count_available(ctl: base.Controller, key: base.Key, pods: list[Obj], min_ready: int) -> int:
    """How many of ``pods`` are available; schedules ``key`` again for the next one that
    will become available once its minReadySeconds elapse."""
    now = ctl.st.clock()
    waits = [available_in(p, min_ready, now) for p in pods]
    pending = [w for w in waits if w]
    if pending:
        ctl.after(key, min(pending))
    return sum(1 for w in waits if w == 0.0)


def selector_labels(owner: Obj) -> dict[str, str]:
    labels = ((owner.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return dict(labels)


async def ensure_revision(
    ctl: base.Controller, owner: Obj, kind: str, template: Obj, hash_: str
) -> Obj:
    """The ControllerRevision ``<owner>-<hash>`` holding ``template``, created if missing
    with the next revision number; an older revision that matches again is renumbered."""
    meta = owner["metadata"]
    ns, name = meta["namespace"], f"{meta['name']}-{hash_}"
    revisions = ctl.owned_by("controllerrevisions.apps", owner)
    top = max((int(r.get("revision") or 0) for r in revisions), default=0)
    existing = ctl.get("controllerrevisions.apps", ns, name)
    if existing is not None:
        if int(existing.get("revision") or 0) < top:
            existing["revision"] = top + 1
            return await ctl.update("controllerrevisions.apps", existing)
        return existing
    cr: Obj = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {**selector_labels(owner), "controller.kubernetes.io/hash": hash_},
            "ownerReferences": [base.controller_ref(owner, "apps/v1", kind)],
        },
        "data": {"spec": {"template": {**template, "$patch": "replace"}}},
        "revision": top + 1,
    }
    created = await ctl.create("controllerrevisions.apps", ns, cr)
    return created if created is not None else cr


async def trim_history(ctl: base.Controller, owner: Obj, live: set[str]) -> None:
    """Delete the oldest revisions beyond ``revisionHistoryLimit`` (default 10) that no
    live pod or status still names (``live``), as kube's history truncation does."""
    limit = int((owner.get("spec") or {}).get("revisionHistoryLimit", 10))
    spare = sorted(
        (
            r
            for r in ctl.owned_by("controllerrevisions.apps", owner)
            if r["metadata"]["name"] not in live
        ),
        key=lambda r: int(r.get("revision") or 0),
    )
    for r in spare[: max(len(spare) - limit, 0)]:
        meta = r["metadata"]
        await ctl.delete("controllerrevisions.apps", meta["namespace"], meta["name"])


def _revision_template(cr: Obj | None) -> Obj | None:
    if cr is None:
        return None
    tpl = copy.deepcopy(((cr.get("data") or {}).get("spec") or {}).get("template"))
    if isinstance(tpl, dict):
        tpl.pop("$patch", None)
        return tpl
    return None


class StatefulSetController(base.Controller):
    name = "statefulset-controller"
    resource = "statefulsets.apps"
    watches = ("pods", "controllerrevisions.apps")

    async def reconcile(self, key: base.Key) -> None:
        ns, name = key
        sts = self.get("statefulsets.apps", ns, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        status = sts.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        template = spec.get("template") or {}
        update_hash = revision_hash(template, collisions)
        await ensure_revision(self, sts, "StatefulSet", template, update_hash)
        # StatefulSet pods carry the whole revision name (DaemonSet pods only the hash).
        update_rev = f"{name}-{update_hash}"
        current_rev = status.get("currentRevision") or update_rev
        current_tpl = _revision_template(self.get("controllerrevisions.apps", ns, current_rev))
        if current_tpl is None:
            current_rev, current_tpl = update_rev, template

        replicas = int(spec.get("replicas", 1))
        pods = self._pods_by_ordinal(sts)
        await self._sync_pods(sts, pods, replicas, update_rev, current_rev, current_tpl)
        await self._delete_scaled_claims(sts, pods, replicas)
        pods = self._pods_by_ordinal(sts)
        await self._write_status(sts, pods, update_rev, current_rev)
        live = {p["metadata"].get("labels", {}).get(REVISION_LABEL, "") for p in pods.values()}
        await trim_history(self, sts, live | {update_rev, current_rev})

    def _pods_by_ordinal(self, sts: Obj) -> dict[int, Obj]:
        out: dict[int, Obj] = {}
        pattern = re.compile(re.escape(sts["metadata"]["name"]) + r"-(0|[1-9][0-9]*)")
        for pod in self.owned_by("pods", sts):
            m = pattern.fullmatch(pod["metadata"]["name"])
            if m:
                out[int(m.group(1))] = pod
        return out

    async def _sync_pods(
        self,
        sts: Obj,
        pods: dict[int, Obj],
        replicas: int,
        update_rev: str,
        current_rev: str,
        current_tpl: Obj,
    ) -> None:
        spec = sts.get("spec") or {}
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        ns = sts["metadata"]["namespace"]

        for i in range(replicas):
            pod = pods.get(i)
            if pod is not None and (pod.get("status") or {}).get("phase") in (
                "Failed",
                "Succeeded",
            ):
                await self.delete("pods", ns, pod["metadata"]["name"], grace=0)
                return
            if pod is None:
                use_current = rolling and i < partition and current_rev != update_rev
                rev, tpl = (
                    (current_rev, current_tpl)
                    if use_current
                    else (update_rev, spec.get("template") or {})
                )
                await self._create_claims(sts, i)
                await self.create("pods", ns, self._new_pod(sts, i, rev, tpl))
                if ordered:
                    return
                continue
            if ordered and not pod_ready(pod):
                return  # wait for this ordinal before touching the next

        condemned = sorted((i for i in pods if i >= replicas), reverse=True)
        for i in condemned:
            pod = pods[i]
            if pod["metadata"].get("deletionTimestamp"):
                if ordered:
                    return
                continue
            await self.delete("pods", ns, pod["metadata"]["name"])
            if ordered:
                return
        if condemned and ordered:
            return

        if not rolling:
            return
        if not all(i in pods and pod_ready(pods[i]) for i in range(replicas)):
            return
        for i in range(replicas - 1, partition - 1, -1):
            pod = pods[i]
            if pod["metadata"].get("labels", {}).get(REVISION_LABEL) != update_rev:
                await self.delete("pods", ns, pod["metadata"]["name"])
                return

    def _claim_names(self, sts: Obj, ordinal: int) -> dict[str, str]:
        name = sts["metadata"]["name"]
        return {
            t["metadata"]["name"]: f"{t['metadata']['name']}-{name}-{ordinal}"
            for t in (sts.get("spec") or {}).get("volumeClaimTemplates") or []
        }

    async def _create_claims(self, sts: Obj, ordinal: int) -> None:
        ns = sts["metadata"]["namespace"]
        spec = sts.get("spec") or {}
        policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        templates = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates") or []}
        for claim, pvc_name in self._claim_names(sts, ordinal).items():
            if self.get("persistentvolumeclaims", ns, pvc_name) is not None:
                continue
            tpl = copy.deepcopy(templates[claim])
            meta = tpl.get("metadata") or {}
            labels = {**(meta.get("labels") or {}), **selector_labels(sts)}
            labels[POD_NAME_LABEL] = f"{sts['metadata']['name']}-{ordinal}"
            new_meta: Obj = {"name": pvc_name, "namespace": ns, "labels": labels}
            if meta.get("annotations"):
                new_meta["annotations"] = meta["annotations"]
            if policy.get("whenDeleted") == "Delete":
                ref = base.controller_ref(sts, "apps/v1", "StatefulSet")
                ref["controller"] = False
                new_meta["ownerReferences"] = [ref]
            pvc = {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": new_meta,
                "spec": tpl.get("spec") or {},
            }
            await self.create("persistentvolumeclaims", ns, pvc)

    def _new_pod(self, sts: Obj, ordinal: int, rev: str, template: Obj) -> Obj:
        name = sts["metadata"]["name"]
        pod_name = f"{name}-{ordinal}"
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.update(
            {POD_NAME_LABEL: pod_name, POD_INDEX_LABEL: str(ordinal), REVISION_LABEL: rev}
        )
        meta: Obj = {
            "name": pod_name,
            "namespace": sts["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [base.controller_ref(sts, "apps/v1", "StatefulSet")],
        }
        if tmeta.get("annotations"):
            meta["annotations"] = dict(tmeta["annotations"])
        pod_spec = copy.deepcopy(template.get("spec") or {})
        pod_spec["hostname"] = pod_name
        if (sts.get("spec") or {}).get("serviceName"):
            pod_spec["subdomain"] = sts["spec"]["serviceName"]
        claims = self._claim_names(sts, ordinal)
        volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") not in claims]
        for claim, pvc_name in claims.items():
            volumes.append({"name": claim, "persistentVolumeClaim": {"claimName": pvc_name}})
        if volumes:
            pod_spec["volumes"] = volumes
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}

    async def _delete_scaled_claims(self, sts: Obj, pods: dict[int, Obj], replicas: int) -> None:
        spec = sts.get("spec") or {}
        policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        ns, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        claims = [t["metadata"]["name"] for t in spec.get("volumeClaimTemplates") or []]
        for pvc in self.list_objects("persistentvolumeclaims", ns):
            pvc_name = pvc["metadata"]["name"]
            for claim in claims:
                m = re.fullmatch(re.escape(f"{claim}-{name}-") + r"(0|[1-9][0-9]*)", pvc_name)
                if m and int(m.group(1)) >= replicas and int(m.group(1)) not in pods:
                    await self.delete("persistentvolumeclaims", ns, pvc_name)

    async def _write_status(
        self, sts: Obj, pods: dict[int, Obj], update_rev: str, current_rev: str
    ) -> None:
        spec = sts.get("spec") or {}
        key = (sts["metadata"]["namespace"], sts["metadata"]["name"])
        replicas = int(spec.get("replicas", 1))
        live = list(pods.values())
        ready = sum(1 for p in live if pod_ready(p))
        revs = [p["metadata"].get("labels", {}).get(REVISION_LABEL) for p in live]
        updated = revs.count(update_rev)
        current = revs.count(current_rev)
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if (
            rolling == "RollingUpdate"
            and updated == len(live) == replicas
            and ready == replicas
            and current_rev != update_rev
        ):
            current_rev, current = update_rev, updated
        old = sts.get("status") or {}
        status: Obj = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(live),
            "readyReplicas": ready,
            "availableReplicas": count_available(
                self, key, live, int(spec.get("minReadySeconds") or 0)
            ),
            "currentReplicas": current,
            "updatedReplicas": updated,
            "currentRevision": current_rev,
            "updateRevision": update_rev,
            "collisionCount": int(old.get("collisionCount") or 0),
        }
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        await self.update_status("statefulsets.apps", sts, status)
