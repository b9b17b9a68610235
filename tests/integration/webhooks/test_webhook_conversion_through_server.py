"""CRD conversion webhooks end to end: a two-version CRD whose conversion webhook is served by
:class:`WebhookServer`; kubectl reads and writes both versions of the same stored object."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import webhook_e2e
from webhook_e2e import kubectl

from pilothouse.apiserver import conversion
from pilothouse.client import client as client_mod
from pilothouse.runtime.webhook.conversion import ConversionRegistry, ConversionWebhook
from pilothouse.runtime.webhook.registration import UrlEndpoint, patch_crd_conversion
from pilothouse.runtime.webhook.server import WebhookServer
from pilothouse.testing.apiserver import ServerThread

Obj = dict[str, Any]
GROUP = "conv.example.com"
CRD_NAME = f"widgets.{GROUP}"


def v1_to_v2(obj: Obj) -> Obj:
    size = obj.get("spec", {}).get("size", 0)
    if size == 13:
        raise ValueError("size 13 is unlucky")
    obj["spec"] = {"size": {"value": size, "unit": "Gi"}}
    return obj


def v2_to_v1(obj: Obj) -> Obj:
    size = obj.get("spec", {}).get("size", {})
    if size.get("value") == 13:
        raise ValueError("size 13 is unlucky")
    obj["spec"] = {"size": size.get("value", 0)}
    if size.get("unit", "Gi") != "Gi":
        obj["metadata"].setdefault("annotations", {})[f"{GROUP}/unit"] = size["unit"]
    return obj


def schema(spec: Obj) -> Obj:
    return {
        "openAPIV3Schema": {
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": spec}},
        }
    }


def crd(conversion: Obj | None) -> Obj:
    out: Obj = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": False,
                    "schema": schema({"size": {"type": "integer"}}),
                },
                {
                    "name": "v2",
                    "served": True,
                    "storage": True,
                    "schema": schema(
                        {
                            "size": {
                                "type": "object",
                                "properties": {
                                    "value": {"type": "integer"},
                                    "unit": {"type": "string"},
                                },
                            }
                        }
                    ),
                },
            ],
        },
    }
    if conversion is not None:
        out["spec"]["conversion"] = conversion
    return out


def webhook_conversion(server: WebhookServer) -> Obj:
    return {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {
                "url": server.url("/convert"),
                "caBundle": webhook_e2e.ca_bundle(server),
            },
        },
    }


def widget(version: str, name: str, spec: Obj) -> str:
    return json.dumps(
        {
            "apiVersion": f"{GROUP}/{version}",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "w"}},
            "spec": spec,
        }
    )


async def get(cluster: ServerThread, version: str, name: str) -> Obj:
    proc = await kubectl(cluster, "get", f"widgets.{version}.{GROUP}", name, "-o", "json")
    result: Obj = json.loads(proc.stdout)
    return result


@pytest.fixture
async def converting(webhook_server: WebhookServer, cluster: ServerThread) -> WebhookServer:
    registry = ConversionRegistry()
    registry.kind(GROUP, "Widget", hub="v2").spoke("v1", to_hub=v1_to_v2, from_hub=v2_to_v1)
    webhook_server.register("/convert", ConversionWebhook(registry))
    await kubectl(
        cluster, "apply", "-f", "-", input=json.dumps(crd(webhook_conversion(webhook_server)))
    )
    await kubectl(cluster, "wait", "--for=condition=Established", f"crd/{CRD_NAME}")
    return webhook_server


async def test_webhook_conversion_serves_both_versions(
    converting: WebhookServer, cluster: ServerThread
) -> None:
    await kubectl(cluster, "apply", "-f", "-", input=widget("v1", "w1", {"size": 3}))
    assert webhook_e2e.requests_total(converting, "/convert") >= 1
    v1 = await get(cluster, "v1", "w1")
    v2 = await get(cluster, "v2", "w1")
    assert v1["apiVersion"] == f"{GROUP}/v1" and v1["spec"] == {"size": 3}
    assert v2["apiVersion"] == f"{GROUP}/v2" and v2["spec"] == {"size": {"value": 3, "unit": "Gi"}}
    # One object: the same metadata in both views (labels and annotations included).
    assert v1["metadata"]["uid"] == v2["metadata"]["uid"]
    assert v1["metadata"]["resourceVersion"] == v2["metadata"]["resourceVersion"]
    assert v1["metadata"]["labels"] == v2["metadata"]["labels"] == {"app": "w"}

    # Stored in the storage version (v2), converted by the webhook.
    rec = await asyncio.to_thread(cluster.call, _stored(cluster, "default", "w1"))
    assert rec["apiVersion"] == f"{GROUP}/v2" and rec["spec"]["size"]["unit"] == "Gi"

    # A write through v2 shows in v1, and lists convert every item.
    await kubectl(
        cluster,
        "patch",
        f"widgets.v2.{GROUP}",
        "w1",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"size": {"value": 5, "unit": "Ti"}}}),
    )
    v1 = await get(cluster, "v1", "w1")
    assert v1["spec"] == {"size": 5}
    assert v1["metadata"]["annotations"][f"{GROUP}/unit"] == "Ti"
    await kubectl(cluster, "apply", "-f", "-", input=widget("v2", "w2", {"size": {"value": 7}}))
    listed = json.loads((await kubectl(cluster, "get", f"widgets.v1.{GROUP}", "-o", "json")).stdout)
    assert sorted((i["metadata"]["name"], i["spec"]["size"]) for i in listed["items"]) == [
        ("w1", 5),
        ("w2", 7),
    ]
    assert {i["apiVersion"] for i in listed["items"]} == {f"{GROUP}/v1"}


async def _stored(cluster: ServerThread, namespace: str, name: str) -> Obj:
    state = cluster.server.state
    assert state is not None
    rec = state.store.get(CRD_NAME, namespace, name)
    assert rec is not None
    result: Obj = rec.obj()
    return result


async def test_webhook_conversion_of_objects_under_an_old_storage_version(
    converting: WebhookServer, cluster: ServerThread
) -> None:
    """Objects keep the storage version they were written in; when the CRD's storage version
    changes, reads of the new one convert them."""
    old_storage = crd(webhook_conversion(converting))
    for version in old_storage["spec"]["versions"]:
        version["storage"] = version["name"] == "v1"
    await kubectl(cluster, "apply", "-f", "-", input=json.dumps(old_storage))
    await kubectl(cluster, "apply", "-f", "-", input=widget("v1", "old", {"size": 4}))
    rec = await asyncio.to_thread(cluster.call, _stored(cluster, "default", "old"))
    assert rec["apiVersion"] == f"{GROUP}/v1"
    await kubectl(
        cluster, "apply", "-f", "-", input=json.dumps(crd(webhook_conversion(converting)))
    )
    v2 = await get(cluster, "v2", "old")
    assert v2["apiVersion"] == f"{GROUP}/v2" and v2["spec"] == {"size": {"value": 4, "unit": "Gi"}}


async def test_webhook_conversion_failure_is_a_500_with_the_message(
    converting: WebhookServer, cluster: ServerThread
) -> None:
    # Stored as v2 without conversion; reading it as v1 makes the webhook fail.
    await kubectl(cluster, "apply", "-f", "-", input=widget("v2", "bad", {"size": {"value": 13}}))
    proc = await kubectl(cluster, "get", f"widgets.v1.{GROUP}", "bad", "-o", "json", check=False)
    assert proc.returncode != 0
    assert (
        f"Error from server: conversion webhook for {GROUP}/v2, Kind=Widget failed: "
        f"converting Widget 'default/bad' to {GROUP}/v1: ValueError: size 13 is unlucky"
    ) in proc.stderr
    # Writes too: nothing is stored when the conversion into storage fails.
    proc = await kubectl(
        cluster, "apply", "-f", "-", input=widget("v1", "bad1", {"size": 13}), check=False
    )
    assert proc.returncode != 0
    assert f"conversion webhook for {GROUP}/v1, Kind=Widget failed" in proc.stderr
    proc = await kubectl(cluster, "get", f"widgets.v2.{GROUP}", "bad1", check=False)
    assert "NotFound" in proc.stderr


async def test_webhook_conversion_unreachable_webhook(
    converting: WebhookServer, cluster: ServerThread
) -> None:
    await kubectl(cluster, "apply", "-f", "-", input=widget("v2", "w", {"size": {"value": 1}}))
    await converting.stop()
    proc = await kubectl(cluster, "get", f"widgets.v1.{GROUP}", "w", check=False)
    assert proc.returncode != 0
    url = converting.url("/convert")
    assert (
        f'conversion webhook for {GROUP}/v2, Kind=Widget failed: Post "{url}?timeout=30s": '
        f"dial tcp 127.0.0.1:{converting.port}: connect: connection refused"
    ) in proc.stderr
    # The storage version needs no webhook.
    assert (await get(cluster, "v2", "w"))["spec"]["size"] == {"value": 1}


async def test_webhook_conversion_async_forms_batch_one_review(
    converting: WebhookServer, cluster: ServerThread
) -> None:
    for i in range(3):
        spec = {"size": {"value": i}}
        await kubectl(cluster, "apply", "-f", "-", input=widget("v2", f"w{i}", spec))
    before = webhook_e2e.requests_total(converting, "/convert")

    async def convert_all() -> list[Obj]:
        state = cluster.server.state
        assert state is not None
        rt = state.types.lookup(GROUP, "v1", "widgets")
        assert rt is not None
        stored = [r.obj() for r in state.store.iter(CRD_NAME)]
        out = await conversion.out_list_async(rt, stored)
        back = await conversion.into_async(rt, out[0])
        assert back["apiVersion"] == f"{GROUP}/v2"
        assert back["spec"]["size"]["value"] == stored[0]["spec"]["size"]["value"]
        return out

    out = await asyncio.to_thread(cluster.call, convert_all())
    assert [o["spec"]["size"] for o in out] == [0, 1, 2]
    # One review for the list, one for the way back.
    assert webhook_e2e.requests_total(converting, "/convert") == before + 2


async def test_webhook_conversion_configured_through_the_client(
    webhook_server: WebhookServer, cluster: ServerThread, client: client_mod.Client
) -> None:
    """A CRD applied with conversion ``None`` is switched to the webhook by the runtime."""
    registry = ConversionRegistry()
    registry.kind(GROUP, "Widget", hub="v2").spoke("v1", to_hub=v1_to_v2, from_hub=v2_to_v1)
    webhook_server.register("/convert", ConversionWebhook(registry))
    await kubectl(cluster, "apply", "-f", "-", input=json.dumps(crd(None)))
    await kubectl(cluster, "wait", "--for=condition=Established", f"crd/{CRD_NAME}")
    updated = await patch_crd_conversion(
        client, CRD_NAME, webhook_server.ca_pem, endpoint=UrlEndpoint.of(webhook_server)
    )
    assert updated["spec"]["conversion"] == webhook_conversion(webhook_server)
    await kubectl(cluster, "apply", "-f", "-", input=widget("v1", "w", {"size": 2}))
    assert (await get(cluster, "v2", "w"))["spec"]["size"] == {"value": 2, "unit": "Gi"}


async def test_webhook_conversion_ca_bundle_injected_through_the_client(
    webhook_server: WebhookServer, cluster: ServerThread, client: client_mod.Client
) -> None:
    """The manifest names the webhook; the runtime only injects the CA it generated."""
    registry = ConversionRegistry()
    registry.kind(GROUP, "Widget", hub="v2").spoke("v1", to_hub=v1_to_v2, from_hub=v2_to_v1)
    webhook_server.register("/convert", ConversionWebhook(registry))
    without_ca = webhook_conversion(webhook_server)
    del without_ca["webhook"]["clientConfig"]["caBundle"]
    await kubectl(cluster, "apply", "-f", "-", input=json.dumps(crd(without_ca)))
    await kubectl(cluster, "wait", "--for=condition=Established", f"crd/{CRD_NAME}")
    proc = await kubectl(
        cluster, "apply", "-f", "-", input=widget("v1", "w", {"size": 2}), check=False
    )
    assert "x509: certificate signed by unknown authority" in proc.stderr
    updated = await patch_crd_conversion(client, CRD_NAME, webhook_server.ca_pem)
    assert updated["spec"]["conversion"] == webhook_conversion(webhook_server)
    await kubectl(cluster, "apply", "-f", "-", input=widget("v1", "w", {"size": 2}))
    assert (await get(cluster, "v2", "w"))["spec"]["size"] == {"value": 2, "unit": "Gi"}
