"""The store: global resourceVersion, compare-and-swap, commit-before-notify, catch-up."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from pilothouse.apiserver.store import backend, records, watch
from pilothouse.apiserver.store import store as store_mod


def cm(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}"}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": name}}


async def test_resource_versions_are_global_and_monotonic() -> None:
    s = store_mod.Store()
    a = await s.create("configmaps", cm("a"))
    b = await s.create("secrets", cm("b"))
    c = await s.update("configmaps", cm("a"), a.rv)
    assert (a.rv, b.rv, c.rv) == (1, 2, 3)
    assert c.obj()["metadata"]["resourceVersion"] == "3"


async def test_create_twice_and_stale_update_fail() -> None:
    s = store_mod.Store()
    a = await s.create("configmaps", cm("a"))
    with pytest.raises(store_mod.PreconditionFailed):
        await s.create("configmaps", cm("a"))
    await s.update("configmaps", cm("a"), a.rv)
    with pytest.raises(store_mod.PreconditionFailed):
        await s.update("configmaps", cm("a"), a.rv)


async def test_watch_replays_history_and_filters_transitions() -> None:
    s = store_mod.Store()
    a = await s.create("configmaps", cm("a", app="x"))
    hub = s.hub
    w = hub.subscribe("configmaps", lambda r: r.labels.get("app") == "x", 0)
    assert [t for t, _ in w.queue] == ["ADDED"]
    b = await s.update("configmaps", cm("a", app="y"), a.rv)  # stops matching -> DELETED
    await s.update("configmaps", cm("a", app="x"), b.rv)  # matches again -> ADDED
    assert [t for t, _ in w.queue] == ["ADDED", "DELETED", "ADDED"]
    lines = w.drain()
    assert b'"type":"DELETED"' in lines[1] and b'"resourceVersion":"2"' in lines[1]


async def test_expired_resource_version() -> None:
    s = store_mod.Store(history_size=2)
    for i in range(5):
        await s.create("configmaps", cm(f"c{i}"))
    with pytest.raises(watch.Expired):
        s.hub.subscribe("configmaps", lambda r: True, 1)
    w = s.hub.subscribe("configmaps", lambda r: True, 3)
    assert [e.rv for _, e in w.queue] == [4, 5]


async def test_slow_watcher_is_closed_not_blocking() -> None:
    s = store_mod.Store()
    s.hub.max_backlog = 3
    slow = s.hub.subscribe("configmaps", lambda r: True, 0)
    fast = s.hub.subscribe("configmaps", lambda r: True, 0)
    for i in range(5):
        await s.create("configmaps", cm(f"c{i}"))
        fast.drain()
    assert slow.closed and not fast.closed


async def test_sqlite_persists_and_catches_up(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "db.sqlite"
    s = store_mod.Store(backend.SqliteBackend(path))
    s.load()
    a = await s.create("configmaps", cm("a"))
    await s.create("configmaps", cm("b"))
    await s.update("configmaps", cm("a"), a.rv)
    await s.delete("configmaps", "default", "b")
    await s.close()

    s2 = store_mod.Store(backend.SqliteBackend(path))
    s2.load()
    assert s2.revision == 4
    assert s2.get("configmaps", "default", "a") is not None
    assert s2.get("configmaps", "default", "b") is None
    events = s2.catch_up("configmaps", 1)
    assert events is not None
    assert [(e.type, e.record.name) for e in events] == [("MODIFIED", "a")]  # b born and gone
    events = s2.catch_up("configmaps", 2)
    assert events is not None
    assert sorted((e.type, e.record.name) for e in events) == [("DELETED", "b"), ("MODIFIED", "a")]
    c = await s2.create("configmaps", cm("c"))
    assert c.rv == 5
    await s2.close()


async def test_listeners_see_only_committed_events() -> None:
    s = store_mod.Store()
    seen: list[tuple[str, int]] = []
    s.listeners.append(lambda evs: seen.extend((e.type, e.rv) for e in evs))
    await s.create("configmaps", cm("a"))
    await s.delete("configmaps", "default", "a")
    assert seen == [(records.ADDED, 1), (records.DELETED, 2)]


async def test_compaction_drops_old_tombstones_and_keeps_the_revision(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "db.sqlite"
    s = store_mod.Store(backend.SqliteBackend(path))
    s.load()
    await s.create("configmaps", cm("a"))
    await s.delete("configmaps", "default", "a")  # rv 2: the newest row is a tombstone
    await s.compact(keep=0)
    assert s.catch_up("configmaps", 1) is None  # compacted away: the client must relist
    await s.close()
    s2 = store_mod.Store(backend.SqliteBackend(path))
    s2.load()
    assert s2.revision == 2
    assert (await s2.create("configmaps", cm("b"))).rv == 3
    await s2.close()
