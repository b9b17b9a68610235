"""The unmodified lightkube client (async) against the embedded server."""

from __future__ import annotations

import asyncio

import pytest
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from pilothouse.testing.apiserver import ServerThread


def _client(cluster: ServerThread) -> AsyncClient:
    assert cluster.kubeconfig_path is not None
    return AsyncClient(KubeConfig.from_file(str(cluster.kubeconfig_path)))


async def test_crud_apply_and_watch(cluster: ServerThread) -> None:
    kc = _client(cluster)
    try:
        ns = await kc.create(Namespace(metadata=ObjectMeta(name="lk")))
        assert ns.metadata is not None
        start = ns.metadata.resourceVersion
        events: list[tuple[str, str]] = []

        async def watcher() -> None:
            async for typ, obj in kc.watch(ConfigMap, namespace="lk", resource_version=start):
                events.append((typ, obj.metadata.name))
                if len(events) == 3:
                    return

        task = asyncio.create_task(watcher())
        applied = await kc.apply(
            ConfigMap(metadata=ObjectMeta(name="x", namespace="lk"), data={"a": "1"}),
            field_manager="test",
        )
        assert applied.data == {"a": "1"}
        await kc.patch(ConfigMap, "x", {"data": {"a": "2"}}, namespace="lk")
        await kc.delete(ConfigMap, "x", namespace="lk")
        await asyncio.wait_for(task, 20)
        assert events == [("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x")]
        with pytest.raises(ApiError) as exc:
            await kc.get(ConfigMap, "x", namespace="lk")
        assert exc.value.status.code == 404
    finally:
        await kc.close()
