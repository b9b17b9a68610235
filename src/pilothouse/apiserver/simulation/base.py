"""The base of every simulated controller.

Controllers are level-triggered, like kube-controller-manager's: committed store events
(the server's own watch stream) only enqueue keys; :meth:`Controller.reconcile` reads the
current state and writes what it owns. On start every existing object is enqueued, so a
restarted server picks up where it stopped.

Writes go through the API server's own write pipeline (:mod:`pilothouse.apiserver.rest.
writes`), so controllers' objects are defaulted, validated, admitted and get managedFields
exactly as clients' are, and every update carries a resourceVersion precondition: a
controller never overwrites a client's concurrent change, it is requeued and retries on the
new state. Controllers write only the fields the real controllers own (mostly ``status``,
through the status subresource).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pilothouse.api import labels
from pilothouse.apiserver import errors, resources, state, workers
from pilothouse.apiserver.rest import context, deletion, options, writes
from pilothouse.apiserver.store import records

log = logging.getLogger(__name__)

Obj = dict[str, Any]
#: (namespace, name) of the object a controller reconciles.
Key = tuple[str, str]


@dataclass
class SimulationConfig:
    """Knobs of the simulated cluster."""

    nodes: int = 1
    pod_start_delay: float = 0.0
    node_cpu: str = "8"
    node_memory: str = "32Gi"
    node_pods: int = 110


class Controller:
    """Subclasses set :attr:`name`, :attr:`resource` (the group resource reconciled, e.g.
    ``deployments.apps``) and :attr:`watches` (further group resources whose changes map to
    keys via :meth:`keys_for`), and implement :meth:`reconcile`."""

    name = "controller"
    resource = ""
    watches: tuple[str, ...] = ()
    #: The field manager of this controller's writes.
    manager = "kube-controller-manager"

    def __init__(self, st: state.ServerState, config: SimulationConfig) -> None:
        self.st = st
        self.config = config
        self.worker: workers.KeyedWorker[Key] = workers.KeyedWorker(self.name, self._run)
        self._watched = frozenset((self.resource, *self.watches))

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self.st.store.listeners.append(self._on_events)
        self.worker.start()
        for rec in self.st.store.iter(self.resource):
            self.worker.enqueue((rec.namespace, rec.name))

    async def stop(self) -> None:
        await self.worker.stop()

    def _on_events(self, events: list[records.Event]) -> None:
        for ev in events:
            if ev.record.group_resource in self._watched:
                for key in self.keys_for(ev):
                    self.worker.enqueue(key)

    def keys_for(self, event: records.Event) -> Iterable[Key]:
        """Keys to reconcile after ``event``. Default: the object itself if it is of
        :attr:`resource`, else the controller owner named in its ownerReferences."""
        rec = event.record
        if rec.group_resource == self.resource:
            return [(rec.namespace, rec.name)]
        return [(rec.namespace, name) for name in self.owner_names(rec, event.prev)]

    def owner_names(self, rec: records.Record, prev: records.Record | None) -> list[str]:
        """Names of the objects of :attr:`resource` that control ``rec`` (or controlled
        its previous version, so a released child still wakes its old owner)."""
        names: list[str] = []
        for r in (rec, prev):
            if r is None:
                continue
            for ref in r.obj()["metadata"].get("ownerReferences") or []:
                owner = self.st.store.by_uid(ref.get("uid", ""))
                if (
                    ref.get("controller")
                    and owner is not None
                    and owner.group_resource == self.resource
                ):
                    names.append(owner.name)
        return names

    async def _run(self, key: Key) -> None:
        try:
            await self.reconcile(key)
        except errors.ApiError as exc:
            if exc.code in (404, 409):
                # Lost a race with another writer (or the object went): read again.
                raise workers.Requeue(0.0) from None
            raise

    async def reconcile(self, key: Key) -> None:
        """Bring the object at ``key`` (and what it owns) to its desired state."""
        del key

    def after(self, key: Key, seconds: float) -> None:
        """Reconcile ``key`` again after ``seconds`` (a simulated duration elapsing)."""
        self.worker.enqueue_after(key, max(seconds, 0.0))

    # -- reading ---------------------------------------------------------------------------

    def get(self, group_resource: str, namespace: str, name: str) -> Obj | None:
        rec = self.st.store.get(group_resource, namespace, name)
        return rec.obj() if rec is not None else None

    def list_objects(
        self,
        group_resource: str,
        namespace: str | None = None,
        where: Callable[[records.Record], bool] | None = None,
    ) -> list[Obj]:
        return [
            r.obj()
            for r in self.st.store.iter(group_resource, namespace)
            if where is None or where(r)
        ]

    def selected(
        self, group_resource: str, namespace: str, selector: Obj | None, owner_uid: str
    ) -> list[Obj]:
        """Objects the label ``selector`` matches or that ``owner_uid`` owns: the candidates
        a controller claims or releases. Filtered on the stored labels and owner UIDs before
        decoding, so a namespace of thousands of pods costs one cheap pass."""
        try:
            sel = labels.from_label_selector(selector)
        except labels.SelectorError:
            sel = labels.Selector.nothing()
        return [
            r.obj()
            for r in self.st.store.iter(group_resource, namespace)
            if owner_uid in r.owners or sel.matches(r.labels)
        ]

    def owned_by(self, group_resource: str, owner: Obj) -> list[Obj]:
        """Objects of ``group_resource`` whose controller reference is ``owner``."""
        uid = owner["metadata"]["uid"]
        return [
            rec.obj()
            for rec in self.st.store.dependents(uid)
            if rec.group_resource == group_resource
            and any(
                r.get("uid") == uid and r.get("controller")
                for r in rec.obj()["metadata"].get("ownerReferences") or []
            )
        ]

    # -- writing -------------------------------------------------------------------------

    def _rt(self, group_resource: str) -> resources.ResourceType:
        rt = self.st.types.by_group_resource(group_resource)
        if rt is None:
            raise LookupError(f"no resource {group_resource}")
        return rt

    def _ctx(
        self, group_resource: str, namespace: str, name: str, sub: str = ""
    ) -> context.RequestContext:
        ctx = context.RequestContext(
            self._rt(group_resource), namespace, name, sub, user_agent=self.manager
        )
        ctx.options = options.WriteOptions(field_manager=self.manager)
        ctx.user_info = {
            "username": f"system:serviceaccount:kube-system:{self.name}",
            "groups": ["system:serviceaccounts", "system:authenticated"],
        }
        return ctx

    async def create(self, group_resource: str, namespace: str, obj: Obj) -> Obj | None:
        """Create ``obj``; None if it already exists (another reconcile made it)."""
        try:
            return await writes.create(self.st, self._ctx(group_resource, namespace, ""), obj)
        except errors.ApiError as exc:
            if exc.reason == "AlreadyExists":
                return None
            raise

    async def update(self, group_resource: str, obj: Obj, *, status: bool = False) -> Obj:
        """Replace ``obj`` (or only its status) if it is still at its resourceVersion."""
        meta = obj["metadata"]
        rt = self._rt(group_resource)
        rec = self.st.store.get(rt.storage_key, meta.get("namespace", ""), meta["name"])
        if rec is None:
            raise errors.not_found(rt.plural, meta["name"], rt.group)
        ctx = self._ctx(
            group_resource, meta.get("namespace", ""), meta["name"], "status" if status else ""
        )
        return await writes.update(
            self.st, ctx, copy.deepcopy(obj), rec, expect_rv=int(meta["resourceVersion"])
        )

    async def update_status(self, group_resource: str, obj: Obj, new_status: Obj) -> Obj | None:
        """Write ``new_status`` if it differs from the object's; returns the stored object."""
        if obj.get("status") == new_status:
            return None
        changed = dict(obj, status=new_status)
        return await self.update(group_resource, changed, status=True)

    async def delete(
        self,
        group_resource: str,
        namespace: str,
        name: str,
        *,
        grace: int | None = None,
        policy: str | None = "Background",
        uid: str | None = None,
    ) -> None:
        opts = options.DeleteOptions(
            grace_period_seconds=grace, propagation_policy=policy, precondition_uid=uid
        )
        try:
            await deletion.delete(self.st, self._ctx(group_resource, namespace, name), opts)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise

    def now(self) -> str:
        return self.st.now()


def controller_ref(owner: Obj, api_version: str, kind: str) -> Obj:
    """The controller ownerReference pointing at ``owner``."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def set_condition(
    conditions: list[Obj], type_: str, status: str, reason: str, message: str, now: str
) -> list[Obj]:
    """``conditions`` with ``type_`` set; lastTransitionTime changes only with the status."""
    out = []
    found = False
    for c in conditions:
        if c.get("type") == type_:
            found = True
            when = c.get("lastTransitionTime") if c.get("status") == status else now
            c = {
                **c,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": when,
            }
        out.append(c)
    if not found:
        out.append(
            {
                "type": type_,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": now,
            }
        )
    return out
