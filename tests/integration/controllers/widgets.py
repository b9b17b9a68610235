"""A small operator used by the controller behaviour tests: a Widget owns a ConfigMap whose
data mirrors ``spec.data``, and reports a Ready condition."""

from __future__ import annotations

import copy
from typing import Any

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.runtime import cache as cache_mod
from pilothouse.runtime import conditions, ownerref, reconcile

WIDGET = kinds.Kind("example.com", "v1", "Widget", "widgets", True)

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "data": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "fail": {"type": "string"},
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, data: dict[str, str], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"data": data},
    }


class WidgetReconciler:
    """Desired state by server-side apply; status through the status subresource."""

    def __init__(self, client: client_mod.Client, cache: cache_mod.Cache) -> None:
        self.client = client
        self.cache = cache
        self.calls: list[reconcile.Request] = []

    async def reconcile(self, request: reconcile.Request) -> reconcile.Result | None:
        self.calls.append(request)
        w = await self.cache.try_get(WIDGET, request.name, request.namespace)
        if w is None:
            return None
        spec = w.get("spec") or {}
        if spec.get("fail") == "terminal":
            raise reconcile.TerminalError("spec.fail says terminal")
        if spec.get("fail") == "retry":
            raise RuntimeError("spec.fail says retry")
        child = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{request.name}-data",
                "namespace": request.namespace,
                "ownerReferences": [ownerref.controller_reference(w)],
            },
            "data": dict(spec.get("data") or {}),
        }
        await self.client.apply(child, field_manager="widgets", force=True)
        status = copy.deepcopy(w.get("status") or {})
        conds: list[dict[str, Any]] = status.setdefault("conditions", [])
        changed = conditions.set_condition(
            conds,
            "Ready",
            "True",
            "ConfigMapApplied",
            "data is in place",
            observed_generation=w["metadata"].get("generation"),
        )
        if changed or status.get("observedGeneration") != w["metadata"].get("generation"):
            status["observedGeneration"] = w["metadata"].get("generation")
            try:
                await self.client.apply_status(
                    {
                        "apiVersion": "example.com/v1",
                        "kind": "Widget",
                        "metadata": {"name": request.name, "namespace": request.namespace},
                        "status": status,
                    },
                    field_manager="widgets",
                )
            except errors.NotFound:
                return None
        return None


def setup(mgr: Any) -> None:
    """``pilothouse run --controllers widgets:setup`` entry point."""
    rec = WidgetReconciler(mgr.client, mgr.cache)
    mgr.builder().for_(WIDGET).owns(kinds.CONFIGMAP).with_options(
        max_concurrent_reconciles=8
    ).complete(rec)
