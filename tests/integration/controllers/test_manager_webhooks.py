"""Behaviour: webhooks declared on a manager are served, registered with the API server
(URL + caBundle) and enforced on writes -- rejection and mutation through the server --
with controller-runtime's webhook metrics; after a graceful stop they fail closed, unless the
manager was told to unregister them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import widgets

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.runtime.webhook import admission
from pilothouse.testing import eventually, fixtures


async def validate(review: admission.Admission[dict[str, Any]]) -> admission.Verdict | None:
    obj = review.object or {}
    if "forbidden" in (obj.get("spec") or {}).get("data", {}):
        raise admission.Denied("spec.data.forbidden is not allowed")
    return None


async def default(obj: dict[str, Any], review: admission.Admission[dict[str, Any]]) -> None:
    obj.setdefault("metadata", {}).setdefault("labels", {})["defaulted-by"] = "webhook"


async def test_webhooks_reject_and_mutate_through_the_api_server(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await kube_client.create(widgets.CRD)
    h = make_manager(webhook_port=0, webhook_register=True, webhook_unregister_on_stop=True)
    mgr = h.manager
    mgr.webhook_builder().for_(widgets.WIDGET).with_validator(validate).with_defaulter(
        default
    ).complete()
    h.start()
    await eventually.eventually_async(lambda: _ready(mgr))

    with pytest.raises(errors.ApiError) as denied:
        await kube_client.create(widgets.widget("bad", {"forbidden": "x"}))
    assert "spec.data.forbidden is not allowed" in denied.value.message
    created = await kube_client.create(widgets.widget("good", {"ok": "1"}))
    assert created["metadata"]["labels"] == {"defaulted-by": "webhook"}

    body = mgr.metrics.render().decode()
    assert (
        'controller_runtime_webhook_requests_total{code="200",webhook="/mutate-example-com-v1-widget"}'
        in body
    )

    await h.stop()
    vwc = await kube_client.list(kinds.VALIDATING_WEBHOOK_CONFIGURATION)
    mwc = await kube_client.list(kinds.MUTATING_WEBHOOK_CONFIGURATION)
    assert vwc.items == [] and mwc.items == []
    # With the webhooks gone, nothing blocks writes any more.
    await kube_client.create(widgets.widget("after", {"forbidden": "x"}))


async def _ready(mgr: Any) -> bool:
    return bool(mgr.webhooks_registered)


async def test_a_stopped_managers_webhooks_fail_closed(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await kube_client.create(widgets.CRD)
    h = make_manager(webhook_port=0, webhook_register=True)
    mgr = h.manager
    mgr.webhook_builder().for_(widgets.WIDGET).with_validator(validate).complete()
    h.start()
    await eventually.eventually_async(lambda: _ready(mgr))
    await h.stop()

    vwc = await kube_client.list(kinds.VALIDATING_WEBHOOK_CONFIGURATION)
    assert len(vwc.items) == 1
    # The policy cannot be bypassed by stopping the manager: the write is refused.
    with pytest.raises(errors.ApiError) as refused:
        await kube_client.create(widgets.widget("sneaky", {"forbidden": "x"}))
    assert "failed calling webhook" in refused.value.message

    # The next manager re-registers (same name, its own URL) and serves them again.
    h2 = make_manager(webhook_port=0, webhook_register=True)
    h2.manager.webhook_builder().for_(widgets.WIDGET).with_validator(validate).complete()
    h2.start()
    await eventually.eventually_async(lambda: _ready(h2.manager))
    await kube_client.create(widgets.widget("fine", {"ok": "1"}))
    assert len((await kube_client.list(kinds.VALIDATING_WEBHOOK_CONFIGURATION)).items) == 1
