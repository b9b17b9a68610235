"""The runtime benchmark's Pilothouse operator, run as a user runs one::

    python -m pilothouse.cli run --controllers bench.runtime_pilothouse:setup -n NAMESPACE

``setup``: a Stack controller (``for_(Stack).owns(ConfigMap).owns(Service).owns(Deployment)``)
that reads the Stack and its children from the manager's cache, server-side applies each
child that is missing or has drifted from what the Stack asks for (controller-runtime's
"write only on change"), then applies status.

``setup_cache``: a controller on ConfigMaps whose reconcile only reads the object from the
cache -- for the memory figure with 10,000 cached objects.

``BENCH_MAX_CONCURRENT`` sets ``max_concurrent_reconciles`` (default 32).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from bench import runtime_common as common
from pilothouse.api import kinds
from pilothouse.client import errors
from pilothouse.runtime import conditions, drift, ownerref
from pilothouse.runtime.reconcile import Request, Result

if TYPE_CHECKING:
    from pilothouse.runtime import manager as manager_mod

STACK = kinds.Kind(common.GROUP, common.VERSION, common.KIND, common.PLURAL, True)
CHILD_KINDS = (kinds.CONFIGMAP, kinds.SERVICE, kinds.DEPLOYMENT)
FIELD_MANAGER = "bench-stack-operator"


def _max_concurrent() -> int:
    return int(os.environ.get("BENCH_MAX_CONCURRENT", "32"))


class StackReconciler:
    def __init__(self, mgr: manager_mod.Manager) -> None:
        self.client = mgr.client
        self.cache = mgr.cache

    async def reconcile(self, request: Request) -> Result | None:
        common.stamp("S", request.namespace, request.name)
        try:
            return await self._reconcile(request)
        finally:
            common.stamp("E", request.namespace, request.name)

    async def _reconcile(self, request: Request) -> Result | None:
        stack: dict[str, Any] | None = await self.cache.try_get(
            STACK, request.name, request.namespace
        )
        if stack is None or stack["metadata"].get("deletionTimestamp"):
            return None  # the children go with it (garbage collection)
        meta = stack["metadata"]
        owner = ownerref.controller_reference(stack)
        desired = common.children(request.name, request.namespace, stack.get("spec") or {})
        for kind, child in zip(CHILD_KINDS, desired, strict=True):
            child["metadata"]["ownerReferences"] = [owner]
            live = await self.cache.try_get(kind, child["metadata"]["name"], request.namespace)
            if live is None or drift.needs_update(child, live):
                await self.client.apply(child, field_manager=FIELD_MANAGER, force=True)
        status = stack.get("status") or {}
        generation = meta.get("generation")
        conds = [dict(c) for c in status.get("conditions") or ()]
        changed = conditions.set_condition(
            conds,
            "Ready",
            True,
            "ChildrenReady",
            "ConfigMap, Service and Deployment are in place",
            observed_generation=generation,
        )
        if changed or status.get("children") != 3 or status.get("observedGeneration") != generation:
            try:
                await self.client.apply_status(
                    {
                        "apiVersion": common.API_VERSION,
                        "kind": common.KIND,
                        "metadata": {"name": request.name, "namespace": request.namespace},
                        "status": {
                            "children": 3,
                            "observedGeneration": generation,
                            "conditions": conds,
                        },
                    },
                    field_manager=FIELD_MANAGER,
                )
            except errors.NotFound:
                return None
        return None


def setup(mgr: manager_mod.Manager) -> None:
    (
        mgr.builder()
        .for_(STACK)
        .owns(kinds.CONFIGMAP)
        .owns(kinds.SERVICE)
        .owns(kinds.DEPLOYMENT)
        .with_options(max_concurrent_reconciles=_max_concurrent())
        .complete(StackReconciler(mgr))
    )


def setup_cache(mgr: manager_mod.Manager) -> None:
    cache = mgr.cache

    async def read(request: Request) -> None:
        common.stamp("S", request.namespace, request.name)
        await cache.try_get(kinds.CONFIGMAP, request.name, request.namespace)
        common.stamp("E", request.namespace, request.name)

    (
        mgr.builder()
        .for_(kinds.CONFIGMAP)
        .with_options(max_concurrent_reconciles=_max_concurrent())
        .complete(read)
    )
