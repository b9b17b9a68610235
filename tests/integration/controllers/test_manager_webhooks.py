"""Behaviour: webhooks declared on a manager are served, registered with the API server
(URL + caBundle) and enforced on writes -- rejection and mutation through the server --
with controller-runtime's webhook metrics, and unregistered on a graceful stop."""

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
    h = make_manager(webhook_port=0, webhook_register=True)
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
