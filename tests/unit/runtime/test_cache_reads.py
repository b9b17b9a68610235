"""What cache reads rest on, without an API server:

* the informer's :class:`~pilothouse.runtime.store.Store` -- keys, the namespace and owner
  indexes, field indexes, and (property-based) that after any sequence of puts and removes
  every index equals the index recomputed from scratch;
* :class:`~pilothouse.runtime.cache.Cache` reads -- get/try_get/list/owned_by over a store
  seeded as a synced informer would have it (reads make no request).

(The Store tests live here rather than in a ``test_store.py``: that basename is taken by the
API server's store tests, and test basenames are unique across ``tests/``.)"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightkube.resources.core_v1 import ConfigMap

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod
from pilothouse.client import errors
from pilothouse.runtime import cache as cache_mod
from pilothouse.runtime import store as store_mod

Obj = dict[str, Any]
CM = kinds.CONFIGMAP
NS = kinds.BUILTIN[kinds.GroupVersionKind("", "v1", "Namespace")]


def cm(
    name: str, namespace: str = "default", labels: dict[str, str] | None = None, **kw: Any
) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": "1"}
    if labels:
        meta["labels"] = labels
    if kw.get("owner"):
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": kw["owner"]}
        ]
    out: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    if kw.get("data"):
        out["data"] = kw["data"]
    return out


def make_cache(**options: Any) -> tuple[cache_mod.Cache, client_mod.Client]:
    config = config_mod.ClientConfig(server="http://127.0.0.1:1", namespace="team")
    client = client_mod.Client(config)
    return cache_mod.Cache(client, **options), client


def seed(cache: cache_mod.Cache, kind: Any, objs: list[Obj]) -> None:
    """Fill a kind's store as a synced informer would, without starting it (the cache is then
    marked started, so that reads are allowed)."""
    cache._started = False
    inf = cache.informer(kind)
    for o in objs:
        inf.store.put(o)
    inf._synced.set()
    cache._started = True


@pytest.fixture
def cache() -> cache_mod.Cache:
    c, _ = make_cache()
    seed(
        c,
        CM,
        [
            cm("a", "default", {"app": "x", "tier": "web"}, owner="u1", data={"k": "v"}),
            cm("b", "default", {"app": "y"}, owner="u1"),
            cm("c", "other", {"app": "x"}, owner="u2"),
            cm("d", "team"),
        ],
    )
    seed(c, NS, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}])
    return c


def names(objs: list[Any]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objs)


async def test_get_and_try_get(cache: cache_mod.Cache) -> None:
    assert (await cache.get(CM, "a", "default"))["data"] == {"k": "v"}
    with pytest.raises(errors.NotFound, match='configmaps "zz" not found') as info:
        await cache.get(CM, "zz", "default")
    assert info.value.code == 404 and info.value.reason == "NotFound"
    assert await cache.try_get(CM, "zz", "default") is None
    assert await cache.try_get(CM, "c", "other") is not None
    # A cluster-scoped kind ignores the namespace it is given.
    assert (await cache.get(NS, "default", "whatever"))["metadata"]["name"] == "default"


async def test_get_without_namespace_defaults_like_the_client(cache: cache_mod.Cache) -> None:
    # The client's context namespace is "team": Client.get(CM, "d") would read team/d.
    assert cache.client.namespace == "team"
    assert (await cache.get(CM, "d"))["metadata"]["namespace"] == "team"
    assert await cache.try_get(CM, "a") is None


async def test_get_without_namespace_uses_the_cache_namespace() -> None:
    c, _ = make_cache(namespace="other")
    seed(c, CM, [cm("c", "other")])
    assert (await c.get(CM, "c"))["metadata"]["namespace"] == "other"


async def test_list_by_namespace_labels_and_index(cache: cache_mod.Cache) -> None:
    assert names(await cache.list(CM)) == ["a", "b", "c", "d"]
    assert names(await cache.list(CM, "default")) == ["a", "b"]
    assert names(await cache.list(CM, "nowhere")) == []
    assert names(await cache.list(CM, label_selector="app=x")) == ["a", "c"]
    assert names(await cache.list(CM, label_selector="app in (x, y),tier!=web")) == ["b", "c"]
    assert names(await cache.list(CM, label_selector={"app": "x", "tier": "web"})) == ["a"]
    assert names(await cache.list(CM, label_selector={})) == ["a", "b", "c", "d"]
    assert names(await cache.list(CM, "default", label_selector="app=x")) == ["a"]
    assert names(await cache.list(CM, index=(store_mod.BY_OWNER, "u1"))) == ["a", "b"]
    assert names(await cache.list(CM, "other", index=(store_mod.BY_OWNER, "u2"))) == ["c"]
    assert names(await cache.list(CM, "default", index=(store_mod.BY_OWNER, "u2"))) == []
    assert names(await cache.owned_by(CM, "u1")) == ["a", "b"]
    assert await cache.owned_by(CM, "nobody") == []
    with pytest.raises(KeyError):
        await cache.list(CM, index=("spec.nope", "x"))


async def test_field_index_registered_after_objects_are_cached(cache: cache_mod.Cache) -> None:
    cache.informer(CM).store.put(cm("e", data={"k": "v"}))
    name = cache.index_field(CM, "data.k")
    assert name == "data.k"
    assert cache.index_field(CM, "data.k") == name  # idempotent
    assert names(await cache.list(CM, index=(name, "v"))) == ["a", "e"]


async def test_label_index_finds_objects_by_a_dotted_label_key(cache: cache_mod.Cache) -> None:
    key = "sessions.example.com/session"
    store = cache.informer(CM).store
    store.put(cm("p1", labels={key: "s1"}))
    store.put(cm("p2", labels={key: "s1", "other": "x"}))
    store.put(cm("p3", "other", labels={key: "s1"}))
    store.put(cm("p4", labels={key: "s2"}))
    name = cache.index_label(CM, key)
    assert cache.index_label(CM, key) == name  # idempotent
    assert names(await cache.list(CM, "default", index=(name, "s1"))) == ["p1", "p2"]
    assert names(await cache.list(CM, index=(name, "s1"))) == ["p1", "p2", "p3"]
    # Moves with the object's labels, like every index.
    store.put(cm("p2", labels={key: "s2"}))
    assert names(await cache.list(CM, "default", index=(name, "s2"))) == ["p2", "p4"]
    assert names(await cache.list(CM, "default", index=(name, "nope"))) == []
    # Agrees with the selector scan it replaces.
    for value in ("s1", "s2"):
        scanned = await cache.list(CM, "default", label_selector={key: value})
        assert names(scanned) == names(await cache.list(CM, "default", index=(name, value)))


async def test_typed_reads_decode_lightkube_objects(cache: cache_mod.Cache) -> None:
    got = await cache.get(ConfigMap, "a", "default")
    assert isinstance(got, ConfigMap)
    assert got.metadata is not None and got.metadata.name == "a" and got.data == {"k": "v"}
    listed = await cache.list(ConfigMap, "default")
    assert all(isinstance(o, ConfigMap) for o in listed) and len(listed) == 2
    # Typed and Kind reads share one informer.
    assert cache.informer(ConfigMap) is cache.informer(CM)


async def test_read_before_start_is_an_error() -> None:
    c, _ = make_cache()
    with pytest.raises(RuntimeError, match="before the cache was started"):
        await c.get(CM, "a", "default")


def test_options_keyed_by_typed_classes_apply_to_the_kind() -> None:
    c, _ = make_cache(label_selectors={ConfigMap: "app=x"}, metadata_only=[ConfigMap])
    inf = c.informer(CM)
    assert inf.label_selector == "app=x"
    assert inf.metadata_only
    assert c.informer(NS).label_selector is None and not c.informer(NS).metadata_only
    # Namespaced informers take the cache's namespace; cluster-scoped ones never do.
    c2, _ = make_cache(namespace="team")
    assert c2.informer(CM).namespace == "team" and c2.informer(NS).namespace is None


# -- the Store ---------------------------------------------------------------------------


def thing(
    name: str,
    namespace: str | None = "default",
    *,
    owners: Iterable[str] = (),
    cluster: Any = None,
    rv: str = "1",
) -> Obj:
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv}
    if namespace is not None:
        meta["namespace"] = namespace
    if owners:
        meta["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": f"o-{u}", "uid": u} for u in owners
        ]
    out: Obj = {"apiVersion": "v1", "kind": "Thing", "metadata": meta}
    if cluster is not None:
        out["spec"] = {"clusterRef": cluster}
    return out


def test_keys_namespaced_and_cluster_scoped() -> None:
    assert store_mod.key_of(thing("a")) == "default/a"
    assert store_mod.key_of(thing("n", None)) == "n"
    assert store_mod.make_key("ns", "a") == "ns/a"
    assert store_mod.make_key(None, "a") == "a"
    assert store_mod.make_key("", "a") == "a"


def test_put_replaces_and_reads_are_private_copies() -> None:
    s = store_mod.Store()
    s.put(thing("a", rv="1"))
    second = thing("a", rv="2")
    s.put(second)
    assert len(s) == 1 and "default/a" in s and s.get("default/a") == second
    assert s.resource_version("default/a") == "2"
    # Changing what was stored, or what a read returned, changes nothing stored.
    second["metadata"]["labels"] = {"x": "y"}
    read = s.get("default/a")
    assert read is not None and "labels" not in read["metadata"]
    read["metadata"]["name"] = "changed"
    assert s.get("default/a") == thing("a", rv="2")
    assert s.remove("default/a") is True
    assert s.remove("default/a") is False
    assert len(s) == 0 and s.get("default/a") is None and s.resource_version("default/a") is None


def test_namespace_and_owner_indexes_follow_updates_and_deletes() -> None:
    s = store_mod.Store()
    s.put(thing("a", "ns1", owners=["u1"]))
    s.put(thing("b", "ns1", owners=["u1", "u2"]))
    s.put(thing("c", "ns2"))
    s.put(thing("n", None, owners=["u2"]))
    assert s.index_keys(store_mod.BY_NAMESPACE, "ns1") == {"ns1/a", "ns1/b"}
    assert s.index_keys(store_mod.BY_NAMESPACE, "ns2") == {"ns2/c"}
    assert s.index_keys(store_mod.BY_OWNER, "u1") == {"ns1/a", "ns1/b"}
    assert s.index_keys(store_mod.BY_OWNER, "u2") == {"ns1/b", "n"}
    # b loses owner u1 and gains u3: it moves between index values.
    s.put(thing("b", "ns1", owners=["u3", "u2"], rv="2"))
    assert s.index_keys(store_mod.BY_OWNER, "u1") == {"ns1/a"}
    assert s.index_keys(store_mod.BY_OWNER, "u3") == {"ns1/b"}
    s.remove("ns1/a")
    assert s.index_keys(store_mod.BY_OWNER, "u1") == set()
    assert s.index_keys(store_mod.BY_NAMESPACE, "ns1") == {"ns1/b"}
    assert [o["metadata"]["name"] for o in s.by_index(store_mod.BY_OWNER, "u2")] in (
        ["b", "n"],
        ["n", "b"],
    )
    # Emptied values leave no residue behind.
    assert "u1" not in s._indexes[store_mod.BY_OWNER]


def test_field_index_values_lists_and_missing_fields() -> None:
    idx = store_mod.field_index("spec.clusterRef")
    assert list(idx(thing("a", cluster="c1"))) == ["c1"]
    assert list(idx(thing("a", cluster=["c1", None, "c2"]))) == ["c1", "c2"]
    assert list(idx(thing("a", cluster=3))) == ["3"]
    assert list(idx(thing("a"))) == []
    assert list(idx({"metadata": {"name": "x"}, "spec": "not-a-dict"})) == []
    nested = store_mod.field_index("spec.cluster.name")
    assert list(nested({"metadata": {"name": "x"}, "spec": {"cluster": {"name": "k"}}})) == ["k"]


def test_add_index_files_existing_objects_and_rejects_a_different_function() -> None:
    s = store_mod.Store()
    s.put(thing("a", cluster="c1"))
    s.put(thing("b", cluster="c2"))
    func = store_mod.field_index("spec.clusterRef")
    s.add_index("cluster", func)
    assert s.has_index("cluster")
    assert s.index_keys("cluster", "c1") == {"default/a"}
    s.add_index("cluster", func)  # the same function again: a no-op
    with pytest.raises(ValueError, match="already exists"):
        s.add_index("cluster", store_mod.field_index("spec.clusterRef"))
    with pytest.raises(KeyError, match="add_index"):
        s.by_index("nope", "x")
    s.put(thing("a", cluster="c2", rv="2"))
    assert s.index_keys("cluster", "c2") == {"default/a", "default/b"}
    assert s.index_keys("cluster", "c1") == set()


# -- property: indexes always equal a recomputation -------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "d"])
NAMESPACES = st.sampled_from([None, "ns1", "ns2"])
UIDS = st.lists(st.sampled_from(["u1", "u2", "u3"]), max_size=3)
CLUSTERS = st.one_of(
    st.none(),
    st.sampled_from(["c1", "c2", "c3"]),
    st.lists(st.sampled_from(["c1", "c2", "c3"]), max_size=3),
)

PUT = st.tuples(st.just("put"), NAMES, NAMESPACES, UIDS, CLUSTERS)
REMOVE = st.tuples(st.just("remove"), NAMES, NAMESPACES, st.just([]), st.none())
ADD_INDEX = st.tuples(st.just("add_index"), NAMES, NAMESPACES, st.just([]), st.none())
OPS = st.lists(st.one_of(PUT, PUT, REMOVE, ADD_INDEX), max_size=40)


def _recompute(
    items: dict[str, Obj], funcs: dict[str, store_mod.IndexFunc]
) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {name: {} for name in funcs}
    for key, o in items.items():
        for name, func in funcs.items():
            for value in func(o):
                out[name].setdefault(value, set()).add(key)
    return out


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_indexes_equal_recomputation_after_any_sequence(
    ops: list[tuple[str, str, str | None, list[str], Any]],
) -> None:
    s = store_mod.Store()
    model: dict[str, Obj] = {}
    funcs: dict[str, store_mod.IndexFunc] = {
        store_mod.BY_NAMESPACE: lambda o: (
            [o["metadata"]["namespace"]] if o["metadata"].get("namespace") else []
        ),
        store_mod.BY_OWNER: lambda o: [
            r["uid"] for r in o["metadata"].get("ownerReferences") or []
        ],
    }
    for n, (op, name, ns, uids, cluster) in enumerate(ops):
        key = store_mod.make_key(ns, name)
        if op == "put":
            o = thing(name, ns, owners=uids, cluster=cluster, rv=str(n))
            assert s.get(key) == model.get(key)
            s.put(o)
            model[key] = o
        elif op == "remove":
            assert s.remove(key) is (model.pop(key, None) is not None)
        elif not s.has_index("cluster"):
            func = store_mod.field_index("spec.clusterRef")
            s.add_index("cluster", func)
            funcs["cluster"] = func
        assert len(s) == len(model)
        assert set(s.all_keys()) == set(model)
        expected = _recompute(model, funcs)
        for name in funcs:
            assert s._indexes[name] == expected[name], name
            for value, keys in expected[name].items():
                assert {store_mod.key_of(o) for o in s.by_index(name, value)} == keys
                assert s.index_keys(name, value) == keys
    # Removing everything leaves every index empty.
    for key in list(model):
        s.remove(key)
    assert all(not table for table in s._indexes.values())
    assert s._filed == {}
