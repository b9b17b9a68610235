"""Status writes (server-side apply of status, update with retry under a concurrent writer)
and watches (event order, selectors, bookmarks, 410 Gone) against the embedded server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pilothouse.api import kinds
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod
from pilothouse.client import errors
from pilothouse.client import watch as watch_mod
from pilothouse.testing import fixtures
from pilothouse.testing.apiserver import ServerThread

CM = kinds.CONFIGMAP
DEPLOY = kinds.BUILTIN[kinds.GroupVersionKind("apps", "v1", "Deployment")]
Obj = dict[str, Any]
ApiserverFactory = Callable[..., Awaitable[server_mod.APIServer]]


def deployment(name: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
        },
    }


def cm(name: str, **labels: str) -> Obj:
    meta: Obj = {"name": name, "namespace": "default"}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


# -- status ------------------------------------------------------------------------------


async def test_apply_status_writes_only_status(kube_client: client_mod.Client) -> None:
    await kube_client.create(deployment("st"))
    out = await kube_client.apply_status(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "st", "namespace": "default"},
            "spec": {"replicas": 9},  # ignored by the status subresource
            "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 1},
        },
        field_manager="status-writer",
    )
    assert out["status"]["readyReplicas"] == 1 and out["spec"]["replicas"] == 2
    entries = [m for m in out["metadata"]["managedFields"] if m["manager"] == "status-writer"]
    assert entries and entries[0]["operation"] == "Apply"
    assert entries[0].get("subresource") == "status"
    assert "f:status" in entries[0]["fieldsV1"]
    got = await kube_client.get(DEPLOY, "st", "default")
    assert got["status"]["readyReplicas"] == 1 and got["spec"]["replicas"] == 2


class RacingClient(client_mod.Client):
    """Every read in ``race_on`` is followed by another writer's change to the object, so
    the write that follows it is stale."""

    def __init__(
        self, config: config_mod.ClientConfig, other: client_mod.Client, race_on: set[int]
    ) -> None:
        super().__init__(config, on_request=self._record)
        self.other = other
        self.race_on = race_on
        self.reads = 0
        self.codes: list[tuple[str, str]] = []

    def _record(self, method: str, code: str, _secs: float) -> None:
        self.codes.append((method, code))

    async def get(self, kind: Any, name: str, namespace: str | None = None) -> Any:
        obj = await super().get(kind, name, namespace)
        self.reads += 1
        if self.reads in self.race_on:
            patch = {"metadata": {"labels": {f"race-{self.reads}": "yes"}}}
            await self.other.patch(kind, name, patch, namespace=namespace)
        return obj


async def test_update_status_with_retry_reapplies_the_mutation_on_a_fresh_read(
    kube_apiserver: server_mod.APIServer, kube_client: client_mod.Client
) -> None:
    await kube_client.create(deployment("retry"))
    seen: list[str] = []

    def mutate(obj: Obj) -> None:
        seen.append(obj["metadata"]["resourceVersion"])
        status = obj.setdefault("status", {})
        status["observedGeneration"] = obj["metadata"]["generation"]
        status["readyReplicas"] = 2

    async with RacingClient(
        fixtures.client_config(kube_apiserver), kube_client, race_on={1}
    ) as racing:
        out = await racing.update_status_with_retry(
            DEPLOY, "retry", "default", mutate, field_manager="ctl"
        )
        assert racing.codes == [("GET", "200"), ("PUT", "409"), ("GET", "200"), ("PUT", "200")]
    assert len(seen) == 2 and int(seen[1]) > int(seen[0])
    assert out["status"]["readyReplicas"] == 2
    assert out["metadata"]["labels"] == {"race-1": "yes"}  # the other writer's change kept
    stored = await kube_client.get(DEPLOY, "retry", "default")
    assert stored["status"]["readyReplicas"] == 2
    assert stored["metadata"]["resourceVersion"] == out["metadata"]["resourceVersion"]


async def test_update_status_with_retry_gives_up_and_can_skip(
    kube_apiserver: server_mod.APIServer, kube_client: client_mod.Client
) -> None:
    await kube_client.create(deployment("busy"))
    calls = 0

    def mutate(obj: Obj) -> None:
        nonlocal calls
        calls += 1
        obj.setdefault("status", {})["readyReplicas"] = 1

    config = fixtures.client_config(kube_apiserver)
    async with RacingClient(config, kube_client, race_on={1, 2, 3}) as racing:
        with pytest.raises(errors.Conflict):
            await racing.update_status_with_retry(DEPLOY, "busy", "default", mutate, attempts=3)
        assert calls == 3
        assert [c for c in racing.codes if c[0] == "PUT"] == [("PUT", "409")] * 3

    async with RacingClient(config, kube_client, race_on=set()) as quiet:
        same = await quiet.update_status_with_retry(DEPLOY, "busy", "default", lambda _o: False)
        assert quiet.codes == [("GET", "200")]  # nothing to write: no PUT
        assert not same.get("status", {}).get("readyReplicas")


# -- watch -------------------------------------------------------------------------------


async def next_events(stream: Any, count: int, timeout: float = 10.0) -> list[watch_mod.WatchEvent]:
    out: list[watch_mod.WatchEvent] = []

    async def take() -> None:
        async for ev in stream:
            if ev.type != "BOOKMARK":
                out.append(ev)
            if len(out) == count:
                return

    await asyncio.wait_for(take(), timeout)
    return out


async def test_watch_delivers_changes_in_order(kube_client: client_mod.Client) -> None:
    start = await kube_client.list(CM, "default")
    stream = kube_client.watch(CM, "default", resource_version=start.resource_version)
    await kube_client.create(cm("w1"))
    await kube_client.patch(CM, "w1", {"data": {"a": "1"}})
    await kube_client.create(cm("w2"))
    await kube_client.delete(CM, "w1", "default")
    try:
        events = await next_events(stream, 4)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "w1"),
        ("MODIFIED", "w1"),
        ("ADDED", "w2"),
        ("DELETED", "w1"),
    ]
    rvs = [int(e.resource_version) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 4
    assert events[1].object["data"] == {"a": "1"}


async def test_watch_with_a_label_selector_sees_objects_leave(
    kube_client: client_mod.Client,
) -> None:
    await kube_client.create(cm("in", app="x"))
    start = await kube_client.list(CM, "default", label_selector="app=x")
    stream = kube_client.watch(
        CM, "default", resource_version=start.resource_version, label_selector="app=x"
    )
    await kube_client.create(cm("never", app="y"))
    await kube_client.patch(CM, "in", {"metadata": {"labels": {"app": "y"}}})
    await kube_client.patch(CM, "never", {"metadata": {"labels": {"app": "x"}}})
    try:
        events = await next_events(stream, 2)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("DELETED", "in"),
        ("ADDED", "never"),
    ]


async def test_watch_bookmarks(kube_apiserver_factory: ApiserverFactory) -> None:
    srv = await kube_apiserver_factory(bookmark_interval=0.1)
    async with client_mod.Client(fixtures.client_config(srv)) as c:
        start = await c.list(CM, "default")
        bookmarks = []
        stream = c.watch(CM, "default", resource_version=start.resource_version)
        async with contextlib.aclosing(stream) as events:  # type: ignore[type-var]
            async for ev in events:
                assert ev.type == "BOOKMARK"
                bookmarks.append(ev)
                if len(bookmarks) == 2:
                    break
        assert all(int(b.resource_version) >= int(start.resource_version) for b in bookmarks)
        assert bookmarks[0].object["kind"] == "ConfigMap"


async def test_watch_from_a_compacted_resource_version_raises_gone(
    kube_apiserver_factory: ApiserverFactory,
) -> None:
    srv = await kube_apiserver_factory(history_size=5)
    async with client_mod.Client(fixtures.client_config(srv)) as c:
        old = (await c.list(CM, "default")).resource_version
        for i in range(8):
            await c.create(cm(f"g{i}"))
        with pytest.raises(errors.Gone) as gone:
            async for _ in c.watch(CM, "default", resource_version=old):
                pass
        assert gone.value.code == 410 and gone.value.reason == "Expired"
        # A recent resourceVersion still works.
        recent = (await c.list(CM, "default")).resource_version
        stream = c.watch(CM, "default", resource_version=recent)
        await c.create(cm("fresh"))
        try:
            (ev,) = await next_events(stream, 1)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        assert ev.object["metadata"]["name"] == "fresh"


def _watched_sockets() -> int:
    selector = getattr(asyncio.get_running_loop(), "_selector")  # noqa: B009 -- test only
    return len(selector.get_map())


async def test_close_waits_for_the_socket_of_a_watch_that_ended_early(
    cluster: ServerThread,
) -> None:
    # A watch abandoned mid-stream closes its own connection; its TLS shutdown finishes a
    # few loop turns later. close() must wait for it, or a loop ended right after close()
    # leaks the socket (a ResourceWarning at some later GC). Repeated: the race is ~50%.
    assert cluster.kubeconfig_path is not None
    before = _watched_sockets()
    for _ in range(8):
        client = client_mod.Client(config_mod.load(cluster.kubeconfig_path))
        seen = asyncio.Event()

        async def follow(client: client_mod.Client = client, seen: asyncio.Event = seen) -> None:
            async for _event in client.watch(CM, "default"):
                seen.set()

        task = asyncio.create_task(follow())
        await client.apply(cm("early"), field_manager="test")
        await asyncio.wait_for(seen.wait(), 10)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.close()
        assert _watched_sockets() == before
