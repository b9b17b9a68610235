"""The unmodified kr8s client (async API) against the embedded server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import kr8s
import kr8s.asyncio
import pytest
from kr8s.asyncio.objects import ConfigMap, Deployment, Namespace

from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually_async


@pytest.fixture
async def api(cluster: ServerThread) -> AsyncIterator[kr8s.asyncio.Api]:
    assert cluster.kubeconfig_path is not None
    client = await kr8s.asyncio.api(kubeconfig=str(cluster.kubeconfig_path))
    try:
        yield client
    finally:
        # kr8s offers no close(): its httpx session is closed here so no socket outlives the test.
        if client._session is not None:
            await client._session.aclose()


async def _namespace(api: kr8s.asyncio.Api, name: str) -> Namespace:
    ns = await Namespace({"metadata": {"name": name}}, api=api)
    await ns.create()
    return ns


def _deployment(name: str, namespace: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"tier": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }


async def test_version_and_discovery(api: kr8s.asyncio.Api) -> None:
    version = await api.version()
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    kinds = {r["kind"] for r in await api.api_resources()}
    assert {"ConfigMap", "Deployment", "Namespace"} <= kinds
    assert await api.lookup_kind("cm") == ("configmap/v1", "configmaps", True)
    assert await api.lookup_kind("deploy") == ("deployment.apps/v1", "deployments", True)


async def test_configmap_crud_and_label_selectors(api: kr8s.asyncio.Api) -> None:
    await _namespace(api, "k8")
    for name, tier in (("web-a", "web"), ("web-b", "web"), ("db", "db")):
        cm = await ConfigMap(
            {
                "metadata": {"name": name, "namespace": "k8", "labels": {"tier": tier}},
                "data": {"name": name},
            },
            api=api,
        )
        await cm.create()
        assert cm.metadata.uid and cm.metadata.resourceVersion

    fetched = await ConfigMap.get("web-a", namespace="k8", api=api)
    assert fetched.data == {"name": "web-a"} and fetched.labels == {"tier": "web"}

    async def names(**selectors: Any) -> list[str]:
        return sorted([o.name async for o in api.get("configmaps", namespace="k8", **selectors)])

    assert await names() == ["db", "web-a", "web-b"]
    assert await names(label_selector={"tier": "web"}) == ["web-a", "web-b"]
    assert await names(label_selector="tier in (db, cache)") == ["db"]
    assert await names(label_selector="tier!=web") == ["db"]
    assert await names(field_selector="metadata.name=web-b") == ["web-b"]
    by_name = [o.name async for o in api.get("configmaps", "db", namespace="k8")]
    assert by_name == ["db"]
    only = await ConfigMap.get(namespace="k8", label_selector={"tier": "db"}, api=api)
    assert only.name == "db"

    # Merge patch, JSON patch and kr8s's label helper all answer the updated object.
    rv = int(fetched.metadata.resourceVersion)
    await fetched.patch({"data": {"extra": "1"}})
    assert fetched.data == {"name": "web-a", "extra": "1"}
    assert int(fetched.metadata.resourceVersion) > rv
    await fetched.patch([{"op": "remove", "path": "/data/extra"}], type="json")
    assert fetched.data == {"name": "web-a"}
    await fetched.label(stage="beta")
    await fetched.refresh()
    assert fetched.labels == {"tier": "web", "stage": "beta"}
    assert await names(label_selector={"tier": "web", "stage": "beta"}) == ["web-a"]

    await fetched.delete()
    assert not await fetched.exists()
    with pytest.raises(kr8s.NotFoundError):
        await fetched.refresh()
    with pytest.raises(kr8s.NotFoundError):
        await fetched.delete()
    assert await names() == ["db", "web-b"]


async def test_server_errors_surface_as_kr8s_errors(api: kr8s.asyncio.Api) -> None:
    cm = await ConfigMap({"metadata": {"name": "dup", "namespace": "default"}}, api=api)
    await cm.create()
    again = await ConfigMap({"metadata": {"name": "dup", "namespace": "default"}}, api=api)
    with pytest.raises(kr8s.ServerError) as exc:
        await again.create()
    assert exc.value.response is not None and exc.value.response.status_code == 409
    assert exc.value.status["reason"] == "AlreadyExists"
    assert 'configmaps "dup" already exists' in str(exc.value)
    with pytest.raises(kr8s.ServerError) as bad:
        await cm.patch({"metadata": {"labels": {"bad key!": "x"}}})
    assert bad.value.response is not None and bad.value.response.status_code == 422


async def test_deployment_crud_and_scale(api: kr8s.asyncio.Api) -> None:
    dep = await Deployment(_deployment("web", "default"), api=api)
    await dep.create()
    assert dep.replicas == 1
    # Server-side defaults come back on the created object.
    assert dep.spec.strategy.type == "RollingUpdate"
    assert dep.spec.template.spec.containers[0].imagePullPolicy in ("Always", "IfNotPresent")

    listed = [d.name async for d in api.get("deployments", label_selector="tier=web")]
    assert listed == ["web"]

    # kr8s's scale(): patches the replicas and waits until it reads them back.
    await asyncio.wait_for(dep.scale(3), 20)
    assert dep.replicas == 3
    assert (await Deployment.get("web", namespace="default", api=api)).replicas == 3

    # The scale subresource, through the same client.
    async with api.call_api(
        "GET", version="apps/v1", url="deployments/web/scale", namespace="default"
    ) as resp:
        scale = resp.json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=web"
    await dep.patch({"spec": {"replicas": 5}}, subresource="scale")
    # kr8s keeps its own kind on the answer; the body is the Scale the server returned.
    assert dep.raw["spec"] == {"replicas": 5} and dep.raw["status"]["selector"] == "app=web"
    dep = await Deployment.get("web", namespace="default", api=api)
    assert dep.replicas == 5
    generation = dep.metadata.generation

    await dep.patch({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    assert dep.spec.template.spec.containers[0].image == "x"
    assert dep.metadata.generation > generation

    await dep.delete()
    await eventually_async(lambda: _gone(dep), message="deployment deleted")


async def _gone(obj: Any) -> bool:
    return not await obj.exists()


async def test_watch_events(api: kr8s.asyncio.Api) -> None:
    start = (await _namespace(api, "w8")).metadata.resourceVersion
    events: list[tuple[str, str, str | None]] = []

    async def consume() -> None:
        stream = api.watch("configmaps", namespace="w8", since=start)
        async with contextlib.aclosing(stream):
            async for kind, obj in stream:
                events.append((kind, obj.name, (obj.raw.get("data") or {}).get("k")))
                if len(events) == 4:
                    return

    task = asyncio.create_task(consume())
    cm = await ConfigMap(
        {"metadata": {"name": "w", "namespace": "w8"}, "data": {"k": "1"}}, api=api
    )
    await cm.create()
    other = await ConfigMap({"metadata": {"name": "o", "namespace": "w8"}}, api=api)
    await other.create()
    await cm.patch({"data": {"k": "2"}})
    await cm.delete()
    await asyncio.wait_for(task, 20)
    assert events == [
        ("ADDED", "w", "1"),
        ("ADDED", "o", None),
        ("MODIFIED", "w", "2"),
        ("DELETED", "w", "2"),
    ]


async def test_watch_with_selector_and_single_object(api: kr8s.asyncio.Api) -> None:
    dep = await Deployment(_deployment("watched", "default"), api=api)
    await dep.create()
    seen: list[tuple[str, int]] = []

    async def follow() -> None:
        # APIObject.watch(): a field-selected watch from the object's resourceVersion.
        stream = dep.watch()
        async with contextlib.aclosing(stream):
            async for kind, obj in stream:
                seen.append((kind, obj.replicas))
                if kind == "DELETED":
                    return

    labelled: list[tuple[str, str]] = []

    async def by_label() -> None:
        stream = api.watch("configmaps", namespace="default", label_selector={"pick": "me"})
        async with contextlib.aclosing(stream):
            async for kind, obj in stream:
                labelled.append((kind, obj.name))
                if kind == "DELETED":
                    return

    follower = asyncio.create_task(follow())
    selector_task = asyncio.create_task(by_label())
    # A watch without resourceVersion starts with the existing objects: wait for the stream
    # to be open before writing (the selected pre-existing ConfigMap is its first event).
    pre = await ConfigMap(
        {"metadata": {"name": "pre", "namespace": "default", "labels": {"pick": "me"}}}, api=api
    )
    await pre.create()
    await eventually_async(
        lambda: _ready(labelled), timeout=20, message="selector watch saw the existing object"
    )
    skipped = await ConfigMap({"metadata": {"name": "skip", "namespace": "default"}}, api=api)
    await skipped.create()
    await pre.patch({"metadata": {"labels": {"pick": "no"}}})

    await dep.scale(2)
    await dep.delete()
    await asyncio.wait_for(asyncio.gather(follower, selector_task), 20)
    assert seen[0] == ("MODIFIED", 2) and seen[-1][0] == "DELETED"
    # Leaving the selection is reported as DELETED to a label-selected watch.
    assert labelled == [("ADDED", "pre"), ("DELETED", "pre")]


async def _ready(events: list[Any]) -> bool:
    return bool(events)
