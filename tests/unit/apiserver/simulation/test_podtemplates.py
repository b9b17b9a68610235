"""Pod-template hashing, pods from templates, availability and int-or-percent arithmetic."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from pilothouse.apiserver.simulation import podtemplates as pt

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
    "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
}
NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def _pod(ready: str | None, since: str = "2026-01-01T11:59:55Z", **meta: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Running"}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready, "lastTransitionTime": since}]
    return {"metadata": {"name": "p", **meta}, "status": status}


def test_hash_is_stable_and_safe() -> None:
    h = pt.template_hash(TEMPLATE)
    assert h == pt.template_hash(dict(reversed(list(TEMPLATE.items()))))
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert 1 <= len(h) <= 10


def test_hash_changes_with_template_and_collision_count() -> None:
    other = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    assert pt.template_hash(other) != pt.template_hash(TEMPLATE)
    assert pt.template_hash(TEMPLATE, 1) != pt.template_hash(TEMPLATE)
    assert pt.template_hash(TEMPLATE, 1) != pt.template_hash(TEMPLATE, 2)


def test_hash_ignores_its_own_label() -> None:
    labelled = {
        **TEMPLATE,
        "metadata": {**TEMPLATE["metadata"], "labels": {"app": "web", pt.HASH_LABEL: "x"}},
    }
    assert pt.template_hash(labelled) == pt.template_hash(TEMPLATE)
    assert pt.equal_ignore_hash(labelled, TEMPLATE)
    only_hash = {"metadata": {"labels": {pt.HASH_LABEL: "x"}}, "spec": {}}
    assert pt.equal_ignore_hash(only_hash, {"spec": {}})
    assert not pt.equal_ignore_hash(TEMPLATE, {"spec": TEMPLATE["spec"]})


def test_fnv32a_known_values() -> None:
    assert pt.fnv32a(b"") == 0x811C9DC5
    assert pt.fnv32a(b"a") == 0xE40C292C


def test_pod_from_template() -> None:
    ref = {"kind": "ReplicaSet", "name": "web-abc", "uid": "u", "controller": True}
    pod = pt.pod_from_template(TEMPLATE, ref, "web-abc")
    assert pod["metadata"]["generateName"] == "web-abc-"
    assert pod["metadata"]["labels"] == {"app": "web"}
    assert pod["metadata"]["annotations"] == {"a": "b"}
    assert pod["metadata"]["ownerReferences"] == [ref]
    assert pod["spec"] == TEMPLATE["spec"]
    pod["spec"]["containers"].append({})
    assert len(TEMPLATE["spec"]["containers"]) == 1  # a copy


def test_active_and_ready() -> None:
    assert pt.is_active(_pod("True"))
    assert not pt.is_active(_pod("True", deletionTimestamp="2026-01-01T00:00:00Z"))
    assert not pt.is_active({"metadata": {}, "status": {"phase": "Succeeded"}})
    assert pt.is_ready(_pod("True"))
    assert not pt.is_ready(_pod("False"))
    assert not pt.is_ready(_pod(None))


def test_availability_uses_min_ready_seconds() -> None:
    pod = _pod("True")  # Ready for 5s at NOW.
    assert pt.is_available(pod, 0, NOW)
    assert pt.is_available(pod, 5, NOW)
    assert not pt.is_available(pod, 8, NOW)
    assert pt.available_after(pod, 8, NOW) == pytest.approx(3.0)
    assert pt.available_after(_pod("False"), 0, NOW) == math.inf


@pytest.mark.parametrize(
    ("value", "total", "up", "want"),
    [
        (2, 10, True, 2),
        ("25%", 10, True, 3),
        ("25%", 10, False, 2),
        ("25%", 4, False, 1),
        ("0%", 4, True, 0),
        ("100%", 3, False, 3),
        ("3", 10, True, 3),
        ("x%", 10, True, 0),
        (None, 10, True, 0),
    ],
)
def test_int_or_percent(value: Any, total: int, up: bool, want: int) -> None:
    assert pt.int_or_percent(value, total, round_up=up) == want


def test_selector_matches() -> None:
    assert pt.selector_matches({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"})
    assert not pt.selector_matches({"matchLabels": {"app": "web"}}, {"app": "db"})
    expr = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}
    assert pt.selector_matches(expr, {"tier": "b"})
    assert not pt.selector_matches(None, {"app": "web"})
    assert not pt.selector_matches({"matchExpressions": [{"key": "k", "operator": "Bad"}]}, {})


@pytest.mark.parametrize(
    ("ru", "replicas", "want"),
    [
        (None, 4, (1, 1)),
        (None, 10, (3, 2)),
        ({"maxSurge": 0, "maxUnavailable": 0}, 3, (0, 1)),
        ({"maxSurge": "0%", "maxUnavailable": "10%"}, 5, (0, 1)),
        ({"maxSurge": "50%", "maxUnavailable": 0}, 3, (2, 0)),
        ({"maxSurge": 2, "maxUnavailable": "100%"}, 3, (2, 3)),
    ],
)
def test_fenceposts(ru: dict[str, Any] | None, replicas: int, want: tuple[int, int]) -> None:
    assert pt.fenceposts(ru, replicas) == want
