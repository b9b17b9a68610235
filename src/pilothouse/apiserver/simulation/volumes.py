"""Simulated persistent volumes: the PV controller's binder plus a dynamic provisioner.

Design, following ``pkg/controller/volume/persistentvolume``:

* Volumes are reconciled under the key ``("", <pv name>)`` (claims always have a
  namespace): a new volume with no ``claimRef`` turns ``Available``.
* On start a default StorageClass ``standard`` (provisioner ``pilothouse.dev/simulated``,
  ``reclaimPolicy: Delete``, ``volumeBindingMode: Immediate``) is created unless some class
  is already annotated as default. It is reconciled under the sentinel key ``("", "")``,
  which no claim can have.
* The controller reconciles claims. A claim without ``storageClassName`` is given the
  default class (the real DefaultStorageClass admission does this at create); if the
  server refuses that spec change the default class is still used for binding.
* A Pending claim binds first to an Available pre-created PV of the same class with enough
  capacity and the requested access modes (smallest fit first; ``spec.volumeName``
  pre-binding and ``selector.matchLabels`` honoured), else, when its class uses our
  provisioner, a PV ``pvc-<uid>`` is provisioned with a hostPath under
  ``/var/lib/pilothouse``. Binding writes the PV's ``claimRef`` then status ``Bound``, then
  the claim's ``volumeName`` then status ``Bound`` with capacity and access modes, with the
  ``pv.kubernetes.io/bind-completed`` / ``bound-by-controller`` annotations the real binder
  sets. Every step is idempotent, so a lost race is simply retried.
* When a claim goes (or is replaced by a new claim of the same name), its PV turns
  ``Released``; with ``persistentVolumeReclaimPolicy: Delete`` it is then deleted, with
  ``Retain`` it stays Released. PV events wake the claim in their ``claimRef``, and an
  Available PV wakes every Pending claim in the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pilothouse.api import quantity as _quantity
from pilothouse.apiserver import errors
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.store import records

Obj = dict[str, Any]

PROVISIONER = "pilothouse.dev/simulated"
DEFAULT_CLASS = "standard"
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
SC = "storageclasses.storage.k8s.io"
PV = "persistentvolumes"
PVC = "persistentvolumeclaims"
_SENTINEL: base.Key = ("", "")


def _storage(obj: Obj, where: str) -> float:
    if where == "capacity":
        raw = ((obj.get("spec") or {}).get("capacity") or {}).get("storage")
    else:
        raw = (((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
            "storage"
        )
    q = _quantity.parse(raw)
    return float(q.value) if q is not None else 0.0


class VolumeController(base.Controller):
    name = "persistentvolume-binder-controller"
    resource = PVC
    watches = (PV, SC)

    def start(self) -> None:
        super().start()
        self.worker.enqueue(_SENTINEL)
        for pv in self.st.store.iter(PV):
            self.worker.enqueue(("", pv.name))
            ref = (pv.obj().get("spec") or {}).get("claimRef") or {}
            if ref.get("name"):
                self.worker.enqueue((ref.get("namespace", ""), ref["name"]))

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        if rec.group_resource == PVC:
            return [(rec.namespace, rec.name)]
        keys: list[base.Key] = []
        if rec.group_resource == PV:
            pv = rec.obj()
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            if event.type != records.DELETED:
                keys.append(("", rec.name))
            if ref.get("name"):
                keys.append((ref.get("namespace", ""), ref["name"]))
            if event.type == records.DELETED or ref:
                return keys
        elif event.type == records.DELETED:
            return [_SENTINEL]
        # A new or changed class or Available volume may satisfy any Pending claim.
        for r in self.st.store.iter(PVC):
            if (r.obj().get("status") or {}).get("phase", "Pending") == "Pending":
                keys.append((r.namespace, r.name))
        return keys

    # -- storage classes -----------------------------------------------------------------

    def _default_class(self) -> Obj | None:
        for sc in self.list_objects(SC):
            if (sc["metadata"].get("annotations") or {}).get(DEFAULT_ANNOTATION) == "true":
                return sc
        return None

    async def _ensure_default_class(self) -> None:
        if self._default_class() is not None or self.get(SC, "", DEFAULT_CLASS) is not None:
            return
        sc = {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": DEFAULT_CLASS, "annotations": {DEFAULT_ANNOTATION: "true"}},
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        }
        await self.create(SC, "", sc)

    # -- claims --------------------------------------------------------------------------

    async def reconcile(self, key: base.Key) -> None:
        if key == _SENTINEL:
            await self._ensure_default_class()
            return
        ns, name = key
        if not ns:
            await self._sync_volume(name)
            return
        pvc = self.get(PVC, ns, name)
        await self._release(ns, name, pvc)
        if pvc is None or pvc["metadata"].get("deletionTimestamp"):
            return
        spec = pvc.get("spec") or {}
        class_name = spec.get("storageClassName")
        if class_name is None and not spec.get("volumeName"):
            default = self._default_class()
            if default is None:
                return
            class_name = default["metadata"]["name"]
            try:
                pvc = await self.update(
                    PVC, {**pvc, "spec": {**spec, "storageClassName": class_name}}
                )
            except errors.ApiError as exc:
                if exc.code != 422:
                    raise
        pv = self._bound_volume(pvc) or self._find_volume(pvc, class_name or "")
        if pv is None:
            sc = self.get(SC, "", class_name) if class_name else None
            if sc is None or sc.get("provisioner") != PROVISIONER:
                return
            if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not (
                pvc["metadata"].get("annotations") or {}
            ).get("volume.kubernetes.io/selected-node"):
                return
            pv = await self._provision(pvc, sc)
        await self._bind(pvc, pv)

    def _bound_volume(self, pvc: Obj) -> Obj | None:
        name = (pvc.get("spec") or {}).get("volumeName")
        if not name:
            return None
        pv = self.get(PV, "", name)
        if pv is None:
            return None
        ref = (pv.get("spec") or {}).get("claimRef")
        if ref and (ref.get("uid") or pvc["metadata"]["uid"]) != pvc["metadata"]["uid"]:
            return None
        return pv

    def _find_volume(self, pvc: Obj, class_name: str) -> Obj | None:
        spec = pvc.get("spec") or {}
        if spec.get("volumeName"):
            return None  # pre-bound to a volume that does not exist (yet)
        want = _storage(pvc, "request")
        modes = set(spec.get("accessModes") or [])
        match = ((spec.get("selector") or {}).get("matchLabels")) or {}
        fits: list[tuple[float, str, Obj]] = []
        for pv in self.list_objects(PV):
            pv_spec = pv.get("spec") or {}
            ref = pv_spec.get("claimRef")
            if ref and (ref.get("namespace"), ref.get("name")) != (
                pvc["metadata"]["namespace"],
                pvc["metadata"]["name"],
            ):
                continue
            if (pv.get("status") or {}).get("phase") not in (None, "Pending", "Available"):
                continue
            if pv["metadata"].get("deletionTimestamp"):
                continue
            labels = pv["metadata"].get("labels") or {}
            if (
                (pv_spec.get("storageClassName") or "") != class_name
                or not modes <= set(pv_spec.get("accessModes") or [])
                or _storage(pv, "capacity") < want
                or pv_spec.get("volumeMode", "Filesystem") != spec.get("volumeMode", "Filesystem")
                or any(labels.get(k) != v for k, v in match.items())
            ):
                continue
            fits.append((_storage(pv, "capacity"), pv["metadata"]["name"], pv))
        return min(fits, key=lambda f: (f[0], f[1]))[2] if fits else None

    async def _provision(self, pvc: Obj, sc: Obj) -> Obj:
        spec = pvc.get("spec") or {}
        name = f"pvc-{pvc['metadata']['uid']}"
        existing = self.get(PV, "", name)
        if existing is not None:
            return existing
        pv_spec: Obj = {
            "capacity": {
                "storage": ((spec.get("resources") or {}).get("requests") or {}).get(
                    "storage", "1Gi"
                )
            },
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
            "storageClassName": sc["metadata"]["name"],
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "hostPath": {"path": f"/var/lib/pilothouse/{name}", "type": ""},
            "claimRef": self._claim_ref(pvc),
        }
        if sc.get("mountOptions"):
            pv_spec["mountOptions"] = sc["mountOptions"]
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": name,
                "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
            },
            "spec": pv_spec,
        }
        created = await self.create(PV, "", pv)
        if created is None:
            raise errors.conflict("persistentvolumes", name, "", "created concurrently")
        return created

    @staticmethod
    def _claim_ref(pvc: Obj) -> Obj:
        meta = pvc["metadata"]
        return {
            "kind": "PersistentVolumeClaim",
            "apiVersion": "v1",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
        }

    async def _bind(self, pvc: Obj, pv: Obj) -> None:
        pv_spec = pv.get("spec") or {}
        ref = pv_spec.get("claimRef") or {}
        if ref.get("uid") != pvc["metadata"]["uid"]:
            annotations = dict(pv["metadata"].get("annotations") or {})
            annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
            pv["metadata"]["annotations"] = annotations
            pv["spec"] = {**pv_spec, "claimRef": self._claim_ref(pvc)}
            pv = await self.update(PV, pv)
        written = await self.update_status(PV, pv, {**(pv.get("status") or {}), "phase": "Bound"})
        pv = written or pv
        meta = pvc["metadata"]
        annotations = dict(meta.get("annotations") or {})
        want = {"pv.kubernetes.io/bind-completed": "yes"}
        if not (pvc.get("spec") or {}).get("volumeName"):
            want["pv.kubernetes.io/bound-by-controller"] = "yes"
        if (pv["metadata"].get("annotations") or {}).get("pv.kubernetes.io/provisioned-by"):
            want["volume.kubernetes.io/storage-provisioner"] = PROVISIONER
            want["volume.beta.kubernetes.io/storage-provisioner"] = PROVISIONER
        if (pvc.get("spec") or {}).get("volumeName") != pv["metadata"]["name"] or any(
            annotations.get(k) != v for k, v in want.items()
        ):
            meta["annotations"] = {**annotations, **want}
            pvc["spec"] = {**(pvc.get("spec") or {}), "volumeName": pv["metadata"]["name"]}
            pvc = await self.update(PVC, pvc)
        status = {
            **(pvc.get("status") or {}),
            "phase": "Bound",
            "accessModes": pv["spec"].get("accessModes") or [],
            "capacity": pv["spec"].get("capacity") or {},
        }
        await self.update_status(PVC, pvc, status)

    # -- volumes and reclaiming -----------------------------------------------------------

    async def _sync_volume(self, name: str) -> None:
        """A new volume without a claim becomes Available (the real binder's first step)."""
        pv = self.get(PV, "", name)
        if pv is None or pv["metadata"].get("deletionTimestamp"):
            return
        ref = (pv.get("spec") or {}).get("claimRef")
        status = pv.get("status") or {}
        if not ref and status.get("phase") in (None, "Pending"):
            await self.update_status(PV, pv, {**status, "phase": "Available"})

    async def _release(self, ns: str, name: str, pvc: Obj | None) -> None:
        """Release (and per reclaim policy delete) volumes bound to a claim that is gone."""
        uid = pvc["metadata"]["uid"] if pvc is not None else None
        for pv in self.list_objects(PV):
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            if (ref.get("namespace"), ref.get("name")) != (ns, name) or not ref.get("uid"):
                continue
            if ref["uid"] == uid:
                continue
            phase = (pv.get("status") or {}).get("phase")
            if phase not in ("Released", "Failed"):
                pv = (
                    await self.update_status(
                        PV, pv, {**(pv.get("status") or {}), "phase": "Released"}
                    )
                    or pv
                )
            policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy", "Retain")
            if policy == "Delete" and not pv["metadata"].get("deletionTimestamp"):
                await self.delete(PV, "", pv["metadata"]["name"], uid=pv["metadata"]["uid"])
