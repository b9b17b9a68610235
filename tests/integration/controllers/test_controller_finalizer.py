"""Behaviour: a controller with a finalizer cleans up what lives outside the object's
garbage-collected children before the object goes, retrying a failing cleanup."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import widgets

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.runtime import cache as cache_mod
from pilothouse.runtime import finalizer, reconcile
from pilothouse.testing import eventually, fixtures

FINALIZER = "example.com/external-cleanup"


class ExternalReconciler:
    """Keeps a ConfigMap in another namespace (no owner reference can reach it) per
    Widget, and removes it on deletion; the first ``failures`` cleanups fail."""

    def __init__(self, client: client_mod.Client, cache: cache_mod.Cache, failures: int) -> None:
        self.client = client
        self.cache = cache
        self.failures = failures
        self.cleanups = 0
        self.held = 0

    async def reconcile(self, request: reconcile.Request) -> reconcile.Result | None:
        w = await self.cache.try_get(widgets.WIDGET, request.name, request.namespace)
        if w is None:
            return None

        async def apply(obj: dict[str, Any]) -> None:
            await self.client.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"ext-{request.name}", "namespace": "external"},
                },
                field_manager="widgets",
            )

        async def cleanup(obj: dict[str, Any]) -> None:
            self.cleanups += 1
            # Cleanup sees the object still there, terminating and held by our finalizer.
            live = await self.client.get(widgets.WIDGET, request.name, request.namespace)
            assert live["metadata"].get("deletionTimestamp")
            assert FINALIZER in live["metadata"]["finalizers"]
            self.held += 1
            if self.cleanups <= self.failures:
                raise RuntimeError("external system unavailable")
            # NotFound: apply never ran, or an earlier cleanup got this far.
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(kinds.CONFIGMAP, f"ext-{request.name}", "external")

        await finalizer.finalize(self.client, widgets.WIDGET, w, FINALIZER, apply, cleanup)
        return None


async def exists(client: client_mod.Client, kind: kinds.Kind, name: str, ns: str) -> bool:
    try:
        await client.get(kind, name, ns)
        return True
    except errors.NotFound:
        return False


async def test_cleanup_runs_before_deletion_and_is_retried(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await kube_client.create(widgets.CRD)
    await kube_client.create(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "external"}}
    )
    h = make_manager()
    rec = ExternalReconciler(h.manager.client, h.manager.cache, failures=2)
    h.manager.builder().for_(widgets.WIDGET).complete(rec)
    h.start()
    await h.wait_started()
    await kube_client.create(widgets.widget("f", {}))

    async def set_up() -> bool:
        w = await kube_client.get(widgets.WIDGET, "f", "default")
        return FINALIZER in (w["metadata"].get("finalizers") or []) and await exists(
            kube_client, kinds.CONFIGMAP, "ext-f", "external"
        )

    await eventually.eventually_async(set_up)
    await kube_client.delete(widgets.WIDGET, "f", "default")

    async def gone() -> bool:
        return not await exists(kube_client, widgets.WIDGET, "f", "default")

    await eventually.eventually_async(gone)
    # Gone only after a cleanup succeeded (two failures, retried with backoff); every
    # attempt found the object still held.
    assert rec.cleanups == rec.held == 3
    assert not await exists(kube_client, kinds.CONFIGMAP, "ext-f", "external")
