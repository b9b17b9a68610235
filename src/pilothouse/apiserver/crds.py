"""CustomResourceDefinitions: serving the resources they define.

A CRD's resources are served as soon as its creation commits (a store listener registers
them synchronously, before any later request can be handled), and a worker then records
``NamesAccepted`` and ``Established`` conditions, ``acceptedNames`` and ``storedVersions`` in
its status. All served versions share one storage (conversion strategy ``None``: serving a
version rewrites ``apiVersion`` and nothing else; ``Webhook``: the served versions carry the
CRD's conversion webhook, which :mod:`.conversion` calls through the controller's
:class:`~.conversionwebhook.WebhookConverter`).

Deleting a CRD deletes every custom resource it defines first (the
``customresourcecleanup.apiextensions.k8s.io`` finalizer, with a ``Terminating`` condition
meanwhile); creates are refused during that time, as in kube.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver import conversionwebhook, resources, state, workers
from pilothouse.apiserver.rest import context, deletion, kindhooks, options
from pilothouse.apiserver.store import records
from pilothouse.apiserver.store import store as store_mod

CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


def _scale_paths(sub: Mapping[str, Any]) -> resources.ScalePaths | None:
    scale = sub.get("scale")
    if not isinstance(scale, Mapping):
        return None
    return resources.ScalePaths(
        spec_replicas=str(scale.get("specReplicasPath", ".spec.replicas")),
        status_replicas=str(scale.get("statusReplicasPath", ".status.replicas")),
        label_selector=scale.get("labelSelectorPath"),
    )


def crd_types(
    crd: Mapping[str, Any], webhooks: conversionwebhook.WebhookConverter | None = None
) -> list[resources.ResourceType]:
    """The resource types a CRD object defines (one per served version); with ``webhooks``,
    those of a CRD with a conversion webhook convert through it."""
    conversion = webhooks.conversion(crd) if webhooks is not None else None
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    versions = [v for v in spec.get("versions") or [] if isinstance(v, Mapping)]
    storage = next((v["name"] for v in versions if v.get("storage")), None)
    out = []
    for v in versions:
        if not v.get("served"):
            continue
        sub = v.get("subresources") or {}
        subs = tuple(k for k in ("scale", "status") if k in sub)
        out.append(
            resources.ResourceType(
                group=group,
                version=v["name"],
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                singular=names.get("singular") or names.get("kind", "").lower(),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=subs,
                scale=_scale_paths(sub),
                crd_version=conversionwebhook.served_version(v, conversion),
                storage_version=storage,
            )
        )
    return out


def _condition(
    type_: str, status: str, reason: str, message: str, now: str, old: list[dict[str, Any]]
) -> dict[str, Any]:
    prev = next((c for c in old if c.get("type") == type_), None)
    when = (
        prev["lastTransitionTime"]
        if prev and prev.get("status") == status and prev.get("lastTransitionTime")
        else now
    )
    return {
        "type": type_,
        "status": status,
        "lastTransitionTime": when,
        "reason": reason,
        "message": message,
    }


class CRDController:
    """Keeps the type registry and CRD statuses in line with the stored CRDs."""

    def __init__(self, st: state.ServerState) -> None:
        self.st = st
        self.worker: workers.KeyedWorker[str] = workers.KeyedWorker(
            "crd-controller", self._reconcile
        )
        self._terminating: set[str] = set()
        self.conversion = conversionwebhook.WebhookConverter()
        st.crd_terminating = self.is_terminating

    def is_terminating(self, rt: resources.ResourceType) -> bool:
        return f"{rt.plural}.{rt.group}" in self._terminating

    def start(self) -> None:
        for rec in self.st.store.iter(CRD_RESOURCE):
            self._register(rec)
        self.st.store.listeners.append(self._on_events)
        self.worker.start()
        for rec in self.st.store.iter(CRD_RESOURCE):
            self.worker.enqueue(rec.name)

    async def stop(self) -> None:
        await self.worker.stop()
        await self.conversion.close()

    def _register(self, rec: records.Record) -> None:
        crd = rec.obj()
        types = crd_types(crd, self.conversion)
        self.st.types.set_custom(rec.name, types)
        if crd["metadata"].get("deletionTimestamp"):
            self._terminating.add(rec.name)

    def _on_events(self, events: list[records.Event]) -> None:
        for ev in events:
            rec = ev.record
            if rec.group_resource == CRD_RESOURCE:
                if ev.type == records.DELETED:
                    self.st.types.set_custom(rec.name, [])
                    self._terminating.discard(rec.name)
                    self.st.store.hub.close_all(rec.name)
                else:
                    self._register(rec)
                    self.worker.enqueue(rec.name)
            elif ev.type == records.DELETED and rec.group_resource in self._terminating:
                self.worker.enqueue(rec.group_resource)

    async def _reconcile(self, name: str) -> None:
        rec = self.st.store.get(CRD_RESOURCE, "", name)
        if rec is None:
            return
        crd = rec.obj()
        if crd["metadata"].get("deletionTimestamp"):
            await self._cleanup(rec, crd)
            return
        status = crd.get("status") or {}
        old_conds = list(status.get("conditions") or [])
        spec = crd.get("spec") or {}
        now = self.st.now()
        accepted, why = self._names_ok(crd)
        conds = [
            _condition(
                "NamesAccepted",
                "True" if accepted else "False",
                "NoConflicts" if accepted else "ConflictingNames",
                "no conflicts found" if accepted else why,
                now,
                old_conds,
            ),
            _condition(
                "Established",
                "True" if accepted else "False",
                "InitialNamesAccepted" if accepted else "NotAccepted",
                "the initial names have been accepted"
                if accepted
                else "not all names are accepted",
                now,
                old_conds,
            ),
        ]
        storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
        stored = list(status.get("storedVersions") or [])
        if storage and storage not in stored:
            stored.append(storage)
        new_status = {
            "conditions": conds,
            "acceptedNames": spec.get("names") or {},
            "storedVersions": stored,
        }
        if not accepted:
            self.st.types.set_custom(name, [])
            new_status["acceptedNames"] = status.get("acceptedNames") or {"plural": "", "kind": ""}
        if new_status == status:
            return
        crd["status"] = new_status
        try:
            await self.st.store.update(CRD_RESOURCE, crd, rec.rv)
        except store_mod.PreconditionFailed:
            self.worker.enqueue(name)

    def _names_ok(self, crd: Mapping[str, Any]) -> tuple[bool, str]:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for other in self.st.store.iter(CRD_RESOURCE):
            if other.name == crd["metadata"]["name"]:
                continue
            o = other.obj().get("spec") or {}
            if o.get("group") != spec.get("group"):
                continue
            onames = o.get("names") or {}
            if onames.get("kind") == names.get("kind"):
                return False, f'"{names.get("kind")}" is already in use'
            shared = set(onames.get("shortNames") or ()) & set(names.get("shortNames") or ())
            if shared:
                return False, f'"{sorted(shared)[0]}" is already in use'
        return True, ""

    async def _cleanup(self, rec: records.Record, crd: dict[str, Any]) -> None:
        name = rec.name
        self._terminating.add(name)
        types = self.st.types.custom_types()
        rt = next((t for t in types if f"{t.plural}.{t.group}" == name), None)
        remaining = list(self.st.store.iter(name))
        if rt is not None and remaining:
            opts = options.DeleteOptions()
            for r in remaining:
                if r.obj()["metadata"].get("deletionTimestamp"):
                    continue
                ctx = context.RequestContext(rt, r.namespace, r.name)
                try:
                    await deletion.delete(self.st, ctx, opts)
                except Exception:  # already gone or raced: the next pass sees the truth
                    continue
            if self.st.store.count(name):
                raise workers.Requeue(0.05)
        fins = [
            f
            for f in crd["metadata"].get("finalizers") or []
            if f != kindhooks.CRD_CLEANUP_FINALIZER
        ]
        crd["metadata"]["finalizers"] = fins
        try:
            if fins:
                await self.st.store.update(CRD_RESOURCE, crd, rec.rv)
            else:
                await self.st.store.delete(CRD_RESOURCE, "", name, rec.rv)
        except store_mod.PreconditionFailed:
            self.worker.enqueue(name)
