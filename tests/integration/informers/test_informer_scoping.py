"""What a cache holds: label-scoped informers (objects relabelled out of scope are deletes,
relabelled in are adds), metadata-only informers (no data or spec, the real kind), and
indexes (namespace, owner, a field path) that follow updates and deletes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import informer_kit
import pytest

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.runtime import cache as cache_mod
from pilothouse.runtime import store as store_mod
from pilothouse.testing import eventually

CM = kinds.CONFIGMAP
SECRET = kinds.SECRET
MEMBER = kinds.Kind("informers.pilothouse.test", "v1", "Member", "members", True)
Obj = dict[str, Any]
EnvFactory = Callable[..., Awaitable[informer_kit.Env]]


def cm(name: str, namespace: str = "default", **labels: str) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": "0"}}


async def started_cache(
    env: informer_kit.Env, kind: kinds.Kind, **options: Any
) -> tuple[cache_mod.Cache, informer_kit.Recorder]:
    cache = cache_mod.Cache(env.client, **options)
    rec = informer_kit.Recorder()
    cache.informer(kind).add_handler(rec)
    env.track(cache)
    cache.start()
    await cache.wait_for_sync(10)
    return cache, rec


async def names(
    cache: cache_mod.Cache, kind: kinds.Kind, namespace: str | None = None, **kw: Any
) -> list[str]:
    return sorted(o["metadata"]["name"] for o in await cache.list(kind, namespace, **kw))


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    await eventually.eventually_async(check)


# -- label-scoped ------------------------------------------------------------------------


async def test_label_scoped_cache_holds_only_matching_objects(informer_env: EnvFactory) -> None:
    env = await informer_env()
    w = env.direct
    await w.create(cm("in-1", app="x"))
    await w.create(cm("out-1", app="y"))
    await w.create(cm("plain"))
    cache, rec = await started_cache(env, CM, label_selectors={CM: "app=x"})
    assert cache.informer(CM).store.all_keys() == ["default/in-1"]
    assert await names(cache, CM) == ["in-1"]
    assert await cache.try_get(CM, "out-1", "default") is None

    # Relabelled out of scope: a delete. Relabelled into scope: an add.
    await w.patch(CM, "in-1", {"metadata": {"labels": {"app": "y"}}})
    await w.patch(CM, "out-1", {"metadata": {"labels": {"app": "x"}}})

    async def moved() -> bool:
        return await names(cache, CM) == ["out-1"]

    await until(moved)
    assert [(t, k) for t, k, _ in rec.since(0)] == [
        ("add", "default/in-1"),
        ("delete", "default/in-1"),
        ("add", "default/out-1"),
    ]
    with pytest.raises(errors.NotFound):
        await cache.get(CM, "in-1", "default")

    # Changes to objects out of scope are never seen; in-scope ones are.
    mark = len(rec.events)
    await w.patch(CM, "plain", {"data": {"v": "1"}})
    await w.patch(CM, "out-1", {"data": {"v": "1"}})

    async def updated() -> bool:
        return bool(rec.since(mark))

    await until(updated)
    assert [(t, k) for t, k, _ in rec.since(mark)] == [("update", "default/out-1")]


async def test_metadata_only_informer_stores_metadata_only(informer_env: EnvFactory) -> None:
    env = await informer_env()
    w = env.direct
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "namespace": "default", "labels": {"a": "1"}},
        "type": "Opaque",
        "stringData": {"password": "hunter2"},
    }
    made = await w.create(secret)
    cache, rec = await started_cache(env, SECRET, metadata_only=[SECRET])
    got = await cache.get(SECRET, "s1", "default")
    assert (got["apiVersion"], got["kind"]) == ("v1", "Secret")  # not PartialObjectMetadata
    assert got["metadata"]["uid"] == made["metadata"]["uid"]
    assert got["metadata"]["labels"] == {"a": "1"}
    assert not {"data", "stringData", "type"} & set(got)

    await w.patch(SECRET, "s1", {"metadata": {"labels": {"a": "2"}}, "data": {"more": "eA=="}})

    async def relabelled() -> bool:
        obj = await cache.get(SECRET, "s1", "default")
        return bool(obj["metadata"]["labels"] == {"a": "2"})

    await until(relabelled)
    await w.delete(SECRET, "s1", "default")

    async def deleted() -> bool:
        return await cache.try_get(SECRET, "s1", "default") is None

    await until(deleted)
    assert [t for t, *_ in rec.since(0)] == ["add", "update", "delete"]
    for _, _, _, obj in rec.events:
        assert obj["kind"] == "Secret" and "data" not in obj and "type" not in obj


# -- indexes -----------------------------------------------------------------------------

MEMBER_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "members.informers.pilothouse.test"},
    "spec": {
        "group": "informers.pilothouse.test",
        "scope": "Namespaced",
        "names": {"plural": "members", "singular": "member", "kind": "Member"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"clusterRef": {"type": "string"}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


def member(name: str, cluster: str | None) -> Obj:
    return {
        "apiVersion": "informers.pilothouse.test/v1",
        "kind": "Member",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterRef": cluster} if cluster else {},
    }


async def install_members(client: client_mod.Client) -> None:
    await client.create(MEMBER_CRD)

    async def served() -> bool:
        try:
            await client.list(MEMBER, "default")
            return True
        except errors.NotFound:
            return False

    await until(served)


async def test_field_index_follows_updates_and_deletes(informer_env: EnvFactory) -> None:
    env = await informer_env()
    w = env.direct
    await install_members(w)
    for name, cluster in [("m1", "c1"), ("m2", "c1"), ("m3", "c2"), ("m4", None)]:
        await w.create(member(name, cluster))
    cache = cache_mod.Cache(env.client)
    index = cache.index_field(MEMBER, "spec.clusterRef")  # registered before start
    env.track(cache)
    cache.start()
    await cache.wait_for_sync(10)

    async def filed(expected: dict[str, list[str]]) -> None:
        async def check() -> bool:
            got = {v: await names(cache, MEMBER, index=(index, v)) for v in expected}
            return got == expected

        await until(check)

    await filed({"c1": ["m1", "m2"], "c2": ["m3"], "c3": []})
    await w.patch(MEMBER, "m1", {"spec": {"clusterRef": "c2"}})
    await w.patch(MEMBER, "m4", {"spec": {"clusterRef": "c3"}})
    await filed({"c1": ["m2"], "c2": ["m1", "m3"], "c3": ["m4"]})
    await w.delete(MEMBER, "m3", "default")
    await w.patch(MEMBER, "m2", {"spec": {"clusterRef": None}})
    await filed({"c1": [], "c2": ["m1"], "c3": ["m4"]})
    # An index added to a running cache files what is already there.
    cache.add_index(MEMBER, "by-name-initial", lambda o: [o["metadata"]["name"][0]])
    assert await names(cache, MEMBER, index=("by-name-initial", "m")) == ["m1", "m2", "m4"]
    store = cache.informer(MEMBER).store
    assert store.index_keys(index, "c2") == {"default/m1"}


async def test_namespace_and_owner_indexes(informer_env: EnvFactory) -> None:
    env = await informer_env()
    w = env.direct
    await w.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-a"}})
    owner = await w.create(cm("owner"))
    uid = owner["metadata"]["uid"]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
    for name in ("kid-1", "kid-2", "kid-3"):
        kid = cm(name)
        kid["metadata"]["ownerReferences"] = [ref]
        await w.create(kid)
    await w.create(cm("a-1", "ns-a"))
    await w.create(cm("a-2", "ns-a"))
    cache, _ = await started_cache(env, CM)

    assert await names(cache, CM, "ns-a") == ["a-1", "a-2"]
    assert await names(cache, CM, "default") == ["kid-1", "kid-2", "kid-3", "owner"]
    assert sorted(o["metadata"]["name"] for o in await cache.owned_by(CM, uid)) == [
        "kid-1",
        "kid-2",
        "kid-3",
    ]
    await w.delete(CM, "a-1", "ns-a")
    await w.patch(CM, "kid-1", {"metadata": {"ownerReferences": None}})

    async def updated() -> bool:
        owned = sorted(o["metadata"]["name"] for o in await cache.owned_by(CM, uid))
        return await names(cache, CM, "ns-a") == ["a-2"] and owned == ["kid-2", "kid-3"]

    await until(updated)
    # Deleting the owner: the garbage collector removes its dependents, the index follows.
    await w.delete(CM, "owner", "default")

    async def collected() -> bool:
        return await cache.owned_by(CM, uid) == [] and await names(cache, CM, "default") == [
            "kid-1"
        ]

    await until(collected)
    store = cache.informer(CM).store
    assert store.index_keys(store_mod.BY_OWNER, uid) == set()
    assert store.index_keys(store_mod.BY_NAMESPACE, "ns-a") == {"ns-a/a-2"}


class Exploding:
    def on_add(self, obj: Obj) -> None:
        raise RuntimeError("a broken handler")

    def on_update(self, old: Obj, new: Obj) -> None:
        raise RuntimeError("a broken handler")

    def on_delete(self, obj: Obj) -> None:
        raise RuntimeError("a broken handler")


async def test_late_handlers_replay_the_store_and_broken_handlers_are_contained(
    informer_env: EnvFactory, caplog: pytest.LogCaptureFixture
) -> None:
    env = await informer_env()
    await env.direct.create(cm("early-1"))
    await env.direct.create(cm("early-2"))
    cache, first = await started_cache(env, CM)
    inf = cache.informer(CM)
    inf.add_handler(Exploding())  # runs before the late recorder, and fails on every call
    late = informer_kit.Recorder()
    inf.add_handler(late)  # added after sync: told of what is already there
    assert sorted(k for _, k, _ in late.since(0)) == ["default/early-1", "default/early-2"]
    await env.direct.create(cm("later"))

    async def both_told() -> bool:
        told = [
            ("add", "default/later") in [(t, k) for t, k, _ in r.since(0)] for r in (first, late)
        ]
        return all(told)

    await until(both_told)
    assert any("event handler failed" in r.getMessage() for r in caplog.records)
