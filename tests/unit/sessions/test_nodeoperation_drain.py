"""The pure decisions of node operations: which pods a drain evicts, waits for, skips or
refuses; taint lists; progress; the retry backoff."""

from __future__ import annotations

from typing import Any

from pilothouse.operators.sessions import drain


def pod(
    name: str,
    *,
    owner: str | None = "ReplicaSet",
    phase: str = "Running",
    empty_dir: bool = False,
    mirror: bool = False,
    deleting: bool = False,
    namespace: str = "default",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner, "name": "x", "uid": "u", "controller": True}
        ]
    if mirror:
        meta["annotations"] = {drain.MIRROR_ANNOTATION: "hash"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    volumes = [{"name": "v", "emptyDir": {}}] if empty_dir else [{"name": "c", "configMap": {}}]
    return {"metadata": meta, "spec": {"volumes": volumes}, "status": {"phase": phase}}


def names(pods: list[Any]) -> list[str]:
    return [drain.pod_name(p) for p in pods]


def test_plan_sorts_pods_into_evict_wait_skip_refuse() -> None:
    pods = [
        pod("web-1"),
        pod("agent", owner="DaemonSet"),
        pod("static", owner="Node", mirror=True),
        pod("going", deleting=True),
        pod("bare", owner=None),
        pod("cache", empty_dir=True),
        pod("done", owner=None, empty_dir=True, phase="Succeeded"),
        pod("web-0", namespace="other"),
    ]
    plan = drain.plan_drain(pods)
    assert names(plan.evict) == ["default/done", "default/web-1", "other/web-0"]
    assert names(plan.terminating) == ["default/going"]
    assert plan.skipped == [("default/agent", "DaemonSet pod"), ("default/static", "mirror pod")]
    assert plan.refused == [
        ("default/bare", drain.UNMANAGED),
        ("default/cache", drain.LOCAL_STORAGE),
    ]
    assert plan.pending == ["default/done", "default/going", "default/web-1", "other/web-0"]
    assert not plan.done


def test_options_lift_refusals() -> None:
    pods = [pod("bare", owner=None, empty_dir=True), pod("agent", owner="DaemonSet")]
    plan = drain.plan_drain(pods)
    assert plan.refused == [
        ("default/bare", drain.UNMANAGED),
        ("default/bare", drain.LOCAL_STORAGE),
    ]
    plan = drain.plan_drain(pods, force=True)
    assert plan.refused == [("default/bare", drain.LOCAL_STORAGE)]
    plan = drain.plan_drain(pods, force=True, delete_empty_dir_data=True)
    assert (names(plan.evict), plan.refused) == (["default/bare"], [])
    plan = drain.plan_drain(pods, force=True, delete_empty_dir_data=True, ignore_daemon_sets=False)
    assert plan.refused == [("default/agent", drain.DAEMONSET)]
    assert plan.skipped == []


def test_done_when_only_skipped_pods_are_left() -> None:
    plan = drain.plan_drain([pod("agent", owner="DaemonSet"), pod("m", mirror=True)])
    assert plan.done and plan.pending == [] and len(plan.skipped) == 2
    assert drain.plan_drain([]).done


def test_refusal_message_groups_pods_by_reason() -> None:
    refused = [
        ("default/a", drain.UNMANAGED),
        ("default/b", drain.LOCAL_STORAGE),
        ("default/c", drain.UNMANAGED),
    ]
    assert drain.refusal_message("n1", refused) == (
        f"cannot drain node n1: default/a, default/c: {drain.UNMANAGED}; "
        f"default/b: {drain.LOCAL_STORAGE}"
    )


def test_progress() -> None:
    assert drain.progress([], ["a", "b"]) == "0/2 pods evicted"
    # An evicted pod still terminating is counted once.
    assert drain.progress(["a"], ["a", "b"]) == "1/2 pods evicted"
    assert drain.progress(["a", "b", "c"], []) == "3/3 pods evicted"


def test_backoff_doubles_up_to_the_maximum() -> None:
    delays = [drain.backoff(n, 0.5, 5.0) for n in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert drain.backoff(10_000, 1.0, 30.0) == 30.0


def test_add_taints_adds_and_replaces_by_key_and_effect() -> None:
    current = [
        {"key": "a", "value": "1", "effect": "NoSchedule"},
        {"key": "b", "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"},
    ]
    wanted = [
        {"key": "a", "value": "2", "effect": "NoSchedule"},
        {"key": "a", "effect": "PreferNoSchedule"},
        {"key": "b", "value": "x", "effect": "NoExecute"},
    ]
    assert drain.add_taints(current, wanted) == [
        {"key": "a", "value": "2", "effect": "NoSchedule"},
        {"key": "b", "value": "x", "effect": "NoExecute", "timeAdded": "2026-01-01T00:00:00Z"},
        {"key": "a", "effect": "PreferNoSchedule"},
    ]
    # Idempotent: applying the result again changes nothing.
    once = drain.add_taints(current, wanted)
    assert drain.add_taints(once, wanted) == once


def test_remove_taints_by_key_or_key_and_effect() -> None:
    current = [
        {"key": "a", "effect": "NoSchedule"},
        {"key": "a", "effect": "NoExecute"},
        {"key": "b", "effect": "NoSchedule"},
        {"key": "b", "effect": "NoExecute"},
    ]
    left = drain.remove_taints(current, [{"key": "a"}, {"key": "b", "effect": "NoExecute"}])
    assert left == [{"key": "b", "effect": "NoSchedule"}]
    assert drain.remove_taints(current, [{"key": "zzz"}]) == current
