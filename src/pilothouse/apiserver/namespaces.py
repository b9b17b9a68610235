"""Namespace termination, as kube-controller-manager's namespace controller does it.

A deleted namespace is ``Terminating`` and holds the ``kubernetes`` entry in
``spec.finalizers``. This controller deletes every namespaced object inside it, of every
built-in and custom resource, waits for them to be gone (their own finalizers included),
then removes ``kubernetes`` and, with no ``metadata.finalizers`` left, the namespace itself.
Creating objects in a terminating namespace is refused meanwhile (see
:func:`pilothouse.apiserver.rest.writes.check_namespace`).
"""

from __future__ import annotations

from pilothouse.apiserver import errors, state, workers
from pilothouse.apiserver.rest import context, deletion, options
from pilothouse.apiserver.store import records
from pilothouse.apiserver.store import store as store_mod


class NamespaceController:
    def __init__(self, st: state.ServerState) -> None:
        self.st = st
        self.worker: workers.KeyedWorker[str] = workers.KeyedWorker(
            "namespace-controller", self._process
        )
        self._terminating: set[str] = set()

    def start(self) -> None:
        self.st.store.listeners.append(self._on_events)
        self.worker.start()
        for rec in self.st.store.iter("namespaces"):
            if b'"deletionTimestamp"' in rec.raw:
                self._terminating.add(rec.name)
                self.worker.enqueue(rec.name)

    async def stop(self) -> None:
        await self.worker.stop()

    def _on_events(self, events: list[records.Event]) -> None:
        for ev in events:
            rec = ev.record
            if rec.group_resource == "namespaces":
                if ev.type == records.DELETED:
                    self._terminating.discard(rec.name)
                elif b'"deletionTimestamp"' in rec.raw:
                    self._terminating.add(rec.name)
                    self.worker.enqueue(rec.name)
            elif ev.type == records.DELETED and rec.namespace in self._terminating:
                self.worker.enqueue(rec.namespace)

    async def _process(self, name: str) -> None:
        rec = self.st.store.get("namespaces", "", name)
        if rec is None:
            return
        ns = rec.obj()
        if not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        opts = options.DeleteOptions(propagation_policy="Background")
        seen: set[str] = set()
        for rt in self.st.types.all():
            if not rt.namespaced or not rt.persisted or rt.storage_key in seen:
                continue
            seen.add(rt.storage_key)
            for obj_rec in list(self.st.store.iter(rt.storage_key, name)):
                remaining += 1
                if b'"deletionTimestamp"' in obj_rec.raw:
                    continue
                try:
                    await deletion.delete(
                        self.st,
                        context.RequestContext(
                            rt, name, obj_rec.name, user_agent="pilothouse-namespace-controller"
                        ),
                        opts,
                    )
                except errors.ApiError as exc:
                    if exc.code not in (404, 409):
                        raise
        if remaining:
            return  # woken again by each DELETED event inside the namespace
        spec_fins = [f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != "kubernetes"]
        ns.setdefault("spec", {})["finalizers"] = spec_fins
        if not spec_fins:
            del ns["spec"]["finalizers"]
        try:
            if not spec_fins and not ns["metadata"].get("finalizers"):
                await self.st.store.delete("namespaces", "", name, rec.rv)
            else:
                await self.st.store.update("namespaces", ns, rec.rv)
        except store_mod.PreconditionFailed:
            self.worker.enqueue(name)
