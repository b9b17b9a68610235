"""Event handlers map informer events to reconcile requests: the object itself, its
controller owner of a kind (old and new owners on updates), or a map function."""

from __future__ import annotations

from typing import Any

from pilothouse.api import kinds
from pilothouse.runtime import handler, predicate, reconcile

APP = kinds.Kind("example.com", "v1", "App", "apps", True)
CLUSTER_APP = kinds.Kind("example.com", "v1", "ClusterApp", "clusterapps", False)


class Queue:
    def __init__(self) -> None:
        self.added: list[reconcile.Request] = []

    def add(self, key: reconcile.Request) -> None:
        self.added.append(key)


def child(*owners: dict[str, Any], ns: str = "ns", labels: dict[str, str] | None = None) -> Any:
    return {
        "metadata": {
            "name": "c",
            "namespace": ns,
            "ownerReferences": list(owners),
            "labels": labels or {},
            "generation": 1,
        }
    }


def ref(name: str, kind: str = "App", api: str = "example.com/v1", ctl: bool = True) -> Any:
    return {"apiVersion": api, "kind": kind, "name": name, "uid": f"u-{name}", "controller": ctl}


def test_for_object_enqueues_the_object() -> None:
    q = Queue()
    h = handler.EnqueueForObject(q)
    h.on_add(child())
    h.on_delete(child(ns=""))
    assert q.added == [reconcile.Request("ns", "c"), reconcile.Request("", "c")]


def test_for_owner_follows_the_controller_reference_of_the_right_kind_and_group() -> None:
    q = Queue()
    h = handler.EnqueueForOwner(q, APP)
    h.on_add(child(ref("a"), ref("b", ctl=False), ref("x", kind="Other")))
    h.on_add(child(ref("y", api="other.com/v1")))
    # Another version of the same group still names the owner.
    h.on_add(child(ref("z", api="example.com/v1beta1")))
    assert q.added == [reconcile.Request("ns", "a"), reconcile.Request("ns", "z")]


def test_for_owner_any_reference_and_cluster_scoped_owner() -> None:
    q = Queue()
    handler.EnqueueForOwner(q, APP, only_controller=False).on_add(
        child(ref("a"), ref("b", ctl=False))
    )
    handler.EnqueueForOwner(q, CLUSTER_APP).on_add(child(ref("k", kind="ClusterApp")))
    assert q.added == [
        reconcile.Request("ns", "a"),
        reconcile.Request("ns", "b"),
        reconcile.Request("", "k"),
    ]


def test_owner_change_wakes_old_and_new_owner() -> None:
    q = Queue()
    handler.EnqueueForOwner(q, APP).on_update(child(ref("old")), child(ref("new")))
    assert sorted(q.added) == [reconcile.Request("ns", "new"), reconcile.Request("ns", "old")]


def test_mapped_and_failing_map_function() -> None:
    q = Queue()
    h = handler.EnqueueMapped(
        q, lambda o: [reconcile.Request("ns", n) for n in o["metadata"]["labels"].values()]
    )
    h.on_add(child(labels={"a": "x", "b": "y"}))
    h.on_update(child(labels={"a": "x"}), child(labels={"a": "z"}))

    def broken(o: Any) -> list[reconcile.Request]:
        raise RuntimeError("bug in mapper")

    handler.EnqueueMapped(q, broken).on_add(child())  # logged, not raised
    assert q.added[:2] == [reconcile.Request("ns", "x"), reconcile.Request("ns", "y")]
    assert sorted(q.added[2:]) == [reconcile.Request("ns", "x"), reconcile.Request("ns", "z")]


def test_predicates_gate_every_event_type() -> None:
    q = Queue()
    h = handler.EnqueueForObject(q, [predicate.GenerationChanged()])
    same = child()
    h.on_update(same, same)
    assert q.added == []
    bumped = child()
    bumped["metadata"]["generation"] = 2
    h.on_update(same, bumped)
    h.on_delete(same)
    assert len(q.added) == 2
