"""Behaviour: a controller creates children, re-creates them when deleted, reports status
conditions, and follows spec changes -- all against the embedded API server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import widgets

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.runtime import conditions, reconcile
from pilothouse.testing import eventually, fixtures


async def setup(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> tuple[fixtures.ManagerHandle, widgets.WidgetReconciler]:
    await kube_client.create(widgets.CRD)
    h = make_manager()
    mgr = h.manager
    rec = widgets.WidgetReconciler(mgr.client, mgr.cache)
    mgr.builder().for_(widgets.WIDGET).owns(kinds.CONFIGMAP).complete(rec)
    h.start()
    await h.wait_started()
    return h, rec


async def child(kube_client: client_mod.Client, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = await kube_client.get(kinds.CONFIGMAP, f"{name}-data", "default")
        return obj
    except errors.NotFound:
        return None


async def test_child_created_with_owner_and_status(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await setup(kube_client, make_manager)
    w = await kube_client.create(widgets.widget("a", {"k": "v"}))

    async def converged() -> dict[str, Any] | None:
        cm = await child(kube_client, "a")
        return cm if cm and cm.get("data") == {"k": "v"} else None

    cm = await eventually.eventually_async(converged)
    ref = cm["metadata"]["ownerReferences"][0]
    assert ref["uid"] == w["metadata"]["uid"] and ref["controller"] is True

    async def ready() -> bool:
        obj = await kube_client.get(widgets.WIDGET, "a", "default")
        st = obj.get("status") or {}
        return (
            conditions.is_true(st.get("conditions"), "Ready")
            and st.get("observedGeneration") == obj["metadata"]["generation"]
        )

    await eventually.eventually_async(ready)


async def test_deleted_child_is_recreated_and_spec_change_followed(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await setup(kube_client, make_manager)
    await kube_client.create(widgets.widget("b", {"k": "1"}))
    first = await eventually.eventually_async(lambda: child(kube_client, "b"))
    await kube_client.delete(kinds.CONFIGMAP, "b-data", "default")

    async def recreated() -> dict[str, Any] | None:
        cm = await child(kube_client, "b")
        return cm if cm and cm["metadata"]["uid"] != first["metadata"]["uid"] else None

    await eventually.eventually_async(recreated)
    await kube_client.patch(
        widgets.WIDGET, "b", {"spec": {"data": {"k": "2"}}}, namespace="default"
    )

    async def followed() -> bool:
        cm = await child(kube_client, "b")
        return bool(cm and cm.get("data") == {"k": "2"})

    await eventually.eventually_async(followed)


async def test_drifted_child_is_repaired(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await setup(kube_client, make_manager)
    await kube_client.create(widgets.widget("c", {"k": "v"}))
    await eventually.eventually_async(lambda: child(kube_client, "c"))
    await kube_client.patch(
        kinds.CONFIGMAP, "c-data", {"data": {"k": "tampered"}}, namespace="default"
    )

    async def repaired() -> bool:
        cm = await child(kube_client, "c")
        return bool(cm and cm.get("data") == {"k": "v"})

    await eventually.eventually_async(repaired)


async def test_make_manager_sets_up_chosen_operators(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await kube_client.create(widgets.CRD)
    h = make_manager(widgets.setup)
    assert [c.name for c in h.manager.controllers] == ["widget"]
    h.start()
    await h.wait_started()
    await kube_client.create(widgets.widget("d", {"k": "v"}))
    await eventually.eventually_async(lambda: child(kube_client, "d"))


async def test_terminal_error_is_recorded_as_an_event_and_not_retried(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    h, rec = await setup(kube_client, make_manager)
    bad = widgets.widget("t", {})
    bad["spec"]["fail"] = "terminal"
    await kube_client.create(bad)

    async def recorded() -> list[dict[str, Any]]:
        events = await kube_client.list(kinds.EVENT, "default")
        return [
            e
            for e in events.items
            if e["regarding"]["name"] == "t" and e["reason"] == "ReconcileError"
        ]

    (event,) = await eventually.eventually_async(recorded)
    assert event["type"] == "Warning" and "spec.fail says terminal" in event["note"]
    assert event["reportingController"] == "pilothouse"
    body = h.manager.metrics.render().decode()
    assert 'controller_runtime_terminal_reconcile_errors_total{controller="widget"} 1.0' in body
    assert rec.calls.count(reconcile.Request("default", "t")) == 1
    # A change to the object is what brings it back.
    await kube_client.patch(widgets.WIDGET, "t", {"spec": {"fail": None}}, namespace="default")
    await eventually.eventually_async(lambda: child(kube_client, "t"))
