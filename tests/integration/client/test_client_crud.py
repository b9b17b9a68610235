"""The client against the embedded API server: reads (paging, selectors, metadata-only),
typed and raw access, writes (optimistic concurrency, the three patch types), deletion
(preconditions, propagation policies), error mapping, discovery, request accounting and the
401 retry."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lightkube.models.apps_v1 import DeploymentSpec
from lightkube.models.core_v1 import Container, PodSpec, PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap

from pilothouse.api import kinds
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.client import watch as watch_mod
from pilothouse.testing import eventually, fixtures

CM = kinds.CONFIGMAP
DEPLOY = kinds.BUILTIN[kinds.GroupVersionKind("apps", "v1", "Deployment")]
NAMESPACE = kinds.BUILTIN[kinds.GroupVersionKind("", "v1", "Namespace")]
Obj = dict[str, Any]


def cm(name: str, namespace: str = "default", **labels: str) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"n": name}}


def deployment(name: str, *containers: tuple[str, str]) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": n, "image": i} for n, i in containers]},
            },
        },
    }


def closing(stream: AsyncIterator[watch_mod.WatchEvent]) -> Any:
    """``async with closing(client.watch(...)) as events:`` -- the watch (and its connection)
    is closed on leaving the block, also when the loop over it stops early."""
    return contextlib.aclosing(stream)  # type: ignore[type-var]


async def make_namespace(client: client_mod.Client, name: str) -> None:
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


# -- reads -------------------------------------------------------------------------------


async def test_list_paging_and_selectors(kube_client: client_mod.Client) -> None:
    await make_namespace(kube_client, "other")
    for i in range(7):
        await kube_client.create(cm(f"cm-{i}", tier="even" if i % 2 == 0 else "odd"))
    await kube_client.create(cm("elsewhere", "other", tier="even"))

    page = await kube_client.list(CM, "default", limit=3)
    assert [o["metadata"]["name"] for o in page.items] == ["cm-0", "cm-1", "cm-2"]
    assert page.continue_ and page.remaining == 4
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in page.items)

    before = kube_client.requests
    everything = await kube_client.list_all(CM, "default", limit=3)
    assert kube_client.requests - before == 3  # 3 + 3 + 1
    assert [o["metadata"]["name"] for o in everything.items] == [f"cm-{i}" for i in range(7)]
    assert everything.resource_version
    assert everything.continue_ is None

    # Paging keeps the selector on every page.
    even = await kube_client.list_all(CM, "default", label_selector="tier=even", limit=2)
    assert [o["metadata"]["name"] for o in even.items] == ["cm-0", "cm-2", "cm-4", "cm-6"]
    # Continuing from a token given by the caller.
    rest = await kube_client.list_all(CM, "default", continue_=page.continue_, limit=2)
    assert [o["metadata"]["name"] for o in rest.items] == ["cm-3", "cm-4", "cm-5", "cm-6"]

    by_field = await kube_client.list(CM, "default", field_selector="metadata.name=cm-3")
    assert [o["metadata"]["name"] for o in by_field.items] == ["cm-3"]
    everywhere = await kube_client.list_all(CM, None, label_selector="tier=even")
    assert {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in everywhere.items} >= {
        ("other", "elsewhere"),
        ("default", "cm-0"),
    }
    cluster_scoped = await kube_client.list(NAMESPACE, "ignored-for-cluster-scope")
    assert "other" in {o["metadata"]["name"] for o in cluster_scoped.items}


async def test_metadata_only_list_and_watch(kube_client: client_mod.Client) -> None:
    await kube_client.create(cm("meta", big="yes"))
    page = await kube_client.list(CM, "default", metadata_only=True)
    (item,) = page.items
    assert item["kind"] == "PartialObjectMetadata" and item["apiVersion"] == "meta.k8s.io/v1"
    assert item["metadata"]["name"] == "meta" and item["metadata"]["labels"] == {"big": "yes"}
    assert "data" not in item and "spec" not in item

    async def first_event() -> Any:
        stream = kube_client.watch(
            CM, "default", resource_version=page.resource_version, metadata_only=True
        )
        async with closing(stream) as events:
            async for ev in events:
                return ev
        return None

    await kube_client.patch(CM, "meta", {"data": {"n": "changed"}}, namespace="default")
    ev = await first_event()
    assert ev.type == "MODIFIED" and ev.object["kind"] == "PartialObjectMetadata"
    assert ev.object["metadata"]["name"] == "meta" and "data" not in ev.object


# -- typed and raw access ----------------------------------------------------------------


async def test_typed_access_with_lightkube_classes(kube_client: client_mod.Client) -> None:
    created = await kube_client.create(
        ConfigMap(metadata=ObjectMeta(name="typed", namespace="default"), data={"k": "v"})
    )
    assert isinstance(created, ConfigMap)
    assert created.metadata is not None and created.metadata.uid
    got = await kube_client.get(ConfigMap, "typed", "default")
    assert isinstance(got, ConfigMap) and got.data == {"k": "v"}
    raw = await kube_client.get(CM, "typed", "default")
    assert isinstance(raw, dict) and raw["metadata"]["uid"] == created.metadata.uid

    patched = await kube_client.patch(ConfigMap, "typed", {"data": {"k2": "v2"}})
    assert isinstance(patched, ConfigMap) and patched.data == {"k": "v", "k2": "v2"}
    # A typed object works as a patch body too.
    patched = await kube_client.patch(ConfigMap, "typed", ConfigMap(data={"k3": "v3"}))
    assert patched.data == {"k": "v", "k2": "v2", "k3": "v3"}

    d = Deployment(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=DeploymentSpec(
            selector=LabelSelector(matchLabels={"app": "web"}),
            template=PodTemplateSpec(
                metadata=ObjectMeta(labels={"app": "web"}),
                spec=PodSpec(containers=[Container(name="app", image="nginx:1")]),
            ),
        ),
    )
    made = await kube_client.create(d)
    assert isinstance(made, Deployment)
    assert made.spec is not None and made.spec.replicas == 1  # defaulted by the server
    got_d = await kube_client.get(Deployment, "web", "default")
    assert isinstance(got_d, Deployment)
    assert got_d.spec is not None and got_d.spec.template.spec is not None
    assert got_d.spec.template.spec.containers[0].image == "nginx:1"
    # Typed update round-trips through the server.
    got_d.spec.replicas = 3
    updated = await kube_client.update(got_d)
    assert isinstance(updated, Deployment) and updated.spec is not None
    assert updated.spec.replicas == 3
    applied = await kube_client.apply(
        ConfigMap(metadata=ObjectMeta(name="typed-apply", namespace="default"), data={"a": "1"}),
        field_manager="typed",
    )
    assert isinstance(applied, ConfigMap) and applied.data == {"a": "1"}


# -- writes ------------------------------------------------------------------------------


async def test_create_update_and_optimistic_concurrency(kube_client: client_mod.Client) -> None:
    first = await kube_client.create(cm("occ"))
    with pytest.raises(errors.AlreadyExists) as exists:
        await kube_client.create(cm("occ"))
    assert exists.value.code == 409 and not errors.is_conflict(exists.value)

    fresh = copy.deepcopy(first)
    fresh["data"] = {"n": "2"}
    second = await kube_client.update(fresh, field_manager="tester")
    assert second["data"] == {"n": "2"}
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert "tester" in {m["manager"] for m in second["metadata"]["managedFields"]}

    stale = copy.deepcopy(first)
    stale["data"] = {"n": "stale"}
    with pytest.raises(errors.Conflict) as conflict:
        await kube_client.update(stale)
    assert errors.is_conflict(conflict.value) and errors.is_retryable(conflict.value)
    assert (await kube_client.get(CM, "occ", "default"))["data"] == {"n": "2"}

    dry = await kube_client.create(cm("dry"), dry_run=True)
    assert dry["metadata"]["name"] == "dry"
    with pytest.raises(errors.NotFound):
        await kube_client.get(CM, "dry", "default")


async def test_merge_json_and_strategic_patches(kube_client: client_mod.Client) -> None:
    await kube_client.create(cm("p"))
    merged = await kube_client.patch(CM, "p", {"data": {"a": "1", "n": None}})
    assert merged["data"] == {"a": "1"}
    jsonp = await kube_client.patch(
        CM,
        "p",
        [
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "add", "path": "/data/b", "value": "2"},
        ],
        patch_type="json",
    )
    assert jsonp["data"] == {"a": "1", "b": "2"}
    with pytest.raises(errors.ApiError) as failed_test:
        await kube_client.patch(
            CM, "p", [{"op": "test", "path": "/data/a", "value": "nope"}], patch_type="json"
        )
    assert failed_test.value.code in (409, 422)

    await kube_client.create(deployment("sm", ("app", "app:1"), ("sidecar", "side:1")))
    change = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    strategic = await kube_client.patch(DEPLOY, "sm", change, patch_type="strategic")
    containers = strategic["spec"]["template"]["spec"]["containers"]
    # Strategic merge: containers merge by name, the sidecar stays.
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "app:2"),
        ("sidecar", "side:1"),
    ]
    # A merge patch replaces the list wholesale.
    plain = await kube_client.patch(DEPLOY, "sm", change, patch_type="merge")
    assert [c["name"] for c in plain["spec"]["template"]["spec"]["containers"]] == ["app"]


async def test_apply_ownership_conflicts_and_force(kube_client: client_mod.Client) -> None:
    def desired(value: str, **extra: str) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ssa", "namespace": "default"},
            "data": {"shared": value, **extra},
        }

    out = await kube_client.apply(desired("a", mine="1"), field_manager="alice")
    owners = {m["manager"]: m for m in out["metadata"]["managedFields"]}
    assert owners["alice"]["operation"] == "Apply"
    assert set(owners["alice"]["fieldsV1"]["f:data"]) >= {"f:shared", "f:mine"}

    with pytest.raises(errors.Conflict) as conflict:
        await kube_client.apply(desired("b"), field_manager="bob")
    assert '"alice"' in conflict.value.message and ".data.shared" in conflict.value.message
    assert conflict.value.causes and conflict.value.causes[0]["field"] == ".data.shared"
    assert (await kube_client.get(CM, "ssa", "default"))["data"]["shared"] == "a"

    # Applying the same value is no conflict: both managers then share the field.
    await kube_client.apply(desired("a"), field_manager="carol")

    forced = await kube_client.apply(desired("b"), field_manager="bob", force=True)
    assert forced["data"] == {"shared": "b", "mine": "1"}
    owners = {m["manager"]: m for m in forced["metadata"]["managedFields"]}
    assert "f:shared" in owners["bob"]["fieldsV1"]["f:data"]
    assert "f:shared" not in owners["alice"]["fieldsV1"]["f:data"]
    assert "carol" not in owners  # it owned only the field bob took over

    # Alice no longer applying "mine" removes the field she alone owned.
    dropped = await kube_client.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}},
        field_manager="alice",
    )
    assert dropped["data"] == {"shared": "b"}
    with pytest.raises(ValueError, match=r"metadata\.name"):
        await kube_client.apply({"apiVersion": "v1", "kind": "ConfigMap"}, field_manager="x")


# -- deletion ----------------------------------------------------------------------------


async def test_delete_preconditions(kube_client: client_mod.Client) -> None:
    obj = await kube_client.create(cm("pre"))
    meta = obj["metadata"]
    with pytest.raises(errors.Conflict, match="Precondition failed"):
        await kube_client.delete(
            CM, "pre", "default", preconditions=client_mod.Preconditions(uid="not-the-uid")
        )
    await kube_client.patch(CM, "pre", {"data": {"n": "bumped"}})
    with pytest.raises(errors.Conflict, match="Precondition failed"):
        await kube_client.delete(
            CM,
            "pre",
            "default",
            preconditions=client_mod.Preconditions(resource_version=meta["resourceVersion"]),
        )
    assert (await kube_client.get(CM, "pre", "default"))["metadata"]["uid"] == meta["uid"]
    gone = await kube_client.delete(
        CM, "pre", "default", preconditions=client_mod.Preconditions(uid=meta["uid"])
    )
    assert gone is None or gone["metadata"]["name"] == "pre"
    with pytest.raises(errors.NotFound):
        await kube_client.get(CM, "pre", "default")
    with pytest.raises(errors.NotFound):
        await kube_client.delete(CM, "pre", "default")


async def _owner_with_children(
    client: client_mod.Client, owner: str, children: int, finalizer_on_first: bool = False
) -> tuple[Obj, list[str]]:
    parent = await client.create(cm(owner))
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner,
        "uid": parent["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }
    names = []
    for i in range(children):
        child = cm(f"{owner}-child-{i}")
        child["metadata"]["ownerReferences"] = [ref]
        if finalizer_on_first and i == 0:
            child["metadata"]["finalizers"] = ["test.pilothouse/hold"]
        await client.create(child)
        names.append(child["metadata"]["name"])
    return parent, names


async def exists(client: client_mod.Client, name: str) -> bool:
    try:
        await client.get(CM, name, "default")
        return True
    except errors.NotFound:
        return False


async def test_foreground_deletion_keeps_the_owner_while_children_remain(
    kube_client: client_mod.Client,
) -> None:
    _, children = await _owner_with_children(kube_client, "fg", 2, finalizer_on_first=True)
    out = await kube_client.delete(CM, "fg", "default", propagation_policy="Foreground")
    assert out is not None and out["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in out["metadata"]["finalizers"]

    async def only_held_child_left() -> bool:
        return not await exists(kube_client, children[1]) and await exists(kube_client, children[0])

    await eventually.eventually_async(only_held_child_left)
    # The held child is terminating; the owner waits for it.
    held = await kube_client.get(CM, children[0], "default")
    assert held["metadata"]["deletionTimestamp"]
    owner = await kube_client.get(CM, "fg", "default")
    assert owner["metadata"]["deletionTimestamp"]
    await kube_client.patch(CM, children[0], {"metadata": {"finalizers": None}})

    async def owner_gone() -> bool:
        return not await exists(kube_client, "fg")

    await eventually.eventually_async(owner_gone)


async def test_background_and_orphan_propagation(kube_client: client_mod.Client) -> None:
    _, bg_children = await _owner_with_children(kube_client, "bg", 2)
    assert await kube_client.delete(CM, "bg", "default", propagation_policy="Background") is None
    assert not await exists(kube_client, "bg")

    async def children_gone() -> bool:
        return not any([await exists(kube_client, n) for n in bg_children])

    await eventually.eventually_async(children_gone)

    _, orphans = await _owner_with_children(kube_client, "orph", 2)
    await kube_client.delete(CM, "orph", "default", propagation_policy="Orphan")

    async def orphaned() -> bool:
        if await exists(kube_client, "orph"):
            return False
        kids = [await kube_client.get(CM, n, "default") for n in orphans]
        return all(not k["metadata"].get("ownerReferences") for k in kids)

    await eventually.eventually_async(orphaned)


# -- errors, discovery -------------------------------------------------------------------


async def test_error_mapping(kube_client: client_mod.Client) -> None:
    with pytest.raises(errors.NotFound) as nf:
        await kube_client.get(CM, "missing", "default")
    assert nf.value.status["kind"] == "Status" and nf.value.reason == "NotFound"
    bad = cm("Not_Valid")
    with pytest.raises(errors.Invalid) as invalid:
        await kube_client.create(bad)
    assert invalid.value.code == 422
    assert [c["field"] for c in invalid.value.causes] == ["metadata.name"]
    bad_deploy = deployment("nocontainers")
    bad_deploy["spec"]["template"]["spec"]["containers"] = []
    with pytest.raises(errors.Invalid) as invalid_deploy:
        await kube_client.create(bad_deploy)
    assert any("containers" in c["field"] for c in invalid_deploy.value.causes)
    with pytest.raises(errors.NotFound):
        await kube_client.create(cm("x", "no-such-namespace"))


WIDGET_CRD: Obj = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.client.pilothouse.test"},
    "spec": {
        "group": "client.pilothouse.test",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def second_crd() -> Obj:
    crd = copy.deepcopy(WIDGET_CRD)
    crd["metadata"]["name"] = "clusterthings.client.pilothouse.test"
    crd["spec"]["scope"] = "Cluster"
    crd["spec"]["names"] = {"plural": "clusterthings", "kind": "ClusterThing"}
    return crd


async def wait_served(client: client_mod.Client, api_version: str, kind: str) -> kinds.Kind:
    async def served() -> kinds.Kind | None:
        client.forget_discovery()
        try:
            return await client.kind_for(api_version, kind)
        except errors.NotFound:
            return None

    return await eventually.eventually_async(served)


async def test_kind_for_discovers_custom_resources(kube_client: client_mod.Client) -> None:
    assert await kube_client.kind_for("apps/v1", "Deployment") == DEPLOY
    await kube_client.create(WIDGET_CRD)
    gadget = await wait_served(kube_client, "client.pilothouse.test/v1", "Gadget")
    assert gadget == kinds.Kind("client.pilothouse.test", "v1", "Gadget", "gadgets", True)
    # Objects of the CRD can be written as plain dicts: the kind is found by discovery.
    made = await kube_client.create(
        {
            "apiVersion": "client.pilothouse.test/v1",
            "kind": "Gadget",
            "metadata": {"name": "g"},
            "spec": {"size": 1},
        }
    )
    assert made["metadata"]["namespace"] == "default"
    # A status update of a custom resource by Kind costs a read and a write, no discovery.
    kube_client.forget_discovery()
    before = kube_client.requests

    def ready(obj: Obj) -> None:
        obj["status"] = {"phase": "Ready"}

    out = await kube_client.update_status_with_retry(gadget, "g", "default", ready)
    assert out["status"] == {"phase": "Ready"} and out["spec"] == {"size": 1}
    assert kube_client.requests - before == 2
    # A kind added to an already discovered group is found without forget_discovery().
    await kube_client.create(second_crd())

    async def found_without_reset() -> kinds.Kind | None:
        try:
            return await kube_client.kind_for("client.pilothouse.test/v1", "ClusterThing")
        except errors.NotFound:
            return None

    thing = await eventually.eventually_async(found_without_reset)
    assert thing.plural == "clusterthings" and not thing.namespaced
    with pytest.raises(errors.NotFound, match="Nope"):
        await kube_client.kind_for("client.pilothouse.test/v1", "Nope")
    with pytest.raises(errors.NotFound):
        await kube_client.kind_for("nowhere.example/v9", "Thing")


# -- accounting and authentication -------------------------------------------------------


async def test_request_counting_and_hook(kube_apiserver: server_mod.APIServer) -> None:
    calls: list[tuple[str, str, float]] = []
    async with client_mod.Client(
        fixtures.client_config(kube_apiserver),
        on_request=lambda m, code, secs: calls.append((m, code, secs)),
    ) as c:
        await c.create(cm("count"))
        await c.get(CM, "count", "default")
        with pytest.raises(errors.NotFound):
            await c.get(CM, "nope", "default")
        await c.list(CM, "default")
        await c.patch(CM, "count", {"data": {"x": "y"}})
        async with closing(c.watch(CM, "default", resource_version="0")) as events:
            async for ev in events:
                assert ev.type == "ADDED"  # the initial state, then stop watching
                break
        await c.delete(CM, "count", "default")
        assert c.requests == 7
    assert [(m, code) for m, code, _ in calls] == [
        ("POST", "201"),
        ("GET", "200"),
        ("GET", "404"),
        ("GET", "200"),
        ("PATCH", "200"),
        ("WATCH", "200"),
        ("DELETE", "200"),
    ]
    assert all(secs >= 0 for _, _, secs in calls)


class FlakyAuth:
    """A bad token until told the server refused it (an expired credential)."""

    def __init__(self, good: str) -> None:
        self.good = good
        self.invalidated = 0

    async def header(self) -> str | None:
        return f"Bearer {self.good if self.invalidated else 'expired'}"

    def invalidate(self) -> None:
        self.invalidated += 1


async def test_unauthorized_is_retried_once_after_invalidate(
    kube_apiserver: server_mod.APIServer,
) -> None:
    config = fixtures.client_config(kube_apiserver)
    auth = FlakyAuth(kube_apiserver.token)
    config.auth = auth
    codes: list[str] = []
    async with client_mod.Client(config, on_request=lambda _m, code, _s: codes.append(code)) as c:
        assert (await c.get(NAMESPACE, "default"))["metadata"]["name"] == "default"
        assert codes == ["401", "200"] and auth.invalidated == 1 and c.requests == 2
        await c.get(NAMESPACE, "default")
        assert codes[2:] == ["200"]

    config.auth = FlakyAuth("still-wrong")
    async with client_mod.Client(config) as c:
        with pytest.raises(errors.Unauthorized):
            await c.get(NAMESPACE, "default")
        assert c.requests == 2
