"""Drift detection with apply semantics: partial desired objects, map-lists, server fields."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pilothouse.runtime import drift

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns", "labels": {"app.kubernetes.io/name": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "web:1",
                        "args": ["--port", "8080"],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        "ports": [{"containerPort": 8080}],
                    },
                    {"name": "sidecar", "image": "proxy:1"},
                ]
            },
        },
    },
}


def live() -> dict[str, Any]:
    """DEPLOYMENT as the server returns it: defaults, server metadata, reordering, status."""
    obj = copy.deepcopy(DEPLOYMENT)
    obj["metadata"].update(
        uid="u1",
        resourceVersion="42",
        generation=3,
        creationTimestamp="2024-01-01T00:00:00Z",
        managedFields=[{"manager": "me"}],
        annotations={"deployment.kubernetes.io/revision": "1"},
        finalizers=["other.io/keep"],
    )
    spec = obj["spec"]
    spec.update(revisionHistoryLimit=10, progressDeadlineSeconds=600)
    pod = spec["template"]["spec"]
    pod.update(restartPolicy="Always", dnsPolicy="ClusterFirst")
    app, sidecar = pod["containers"]
    app.update(terminationMessagePath="/dev/termination-log", imagePullPolicy="IfNotPresent")
    app["ports"][0]["protocol"] = "TCP"
    app["env"].reverse()
    app["env"].append({"name": "INJECTED", "value": "by-webhook"})
    pod["containers"] = [sidecar, app]
    obj["status"] = {"replicas": 2, "conditions": [{"type": "Available", "status": "True"}]}
    return obj


def test_live_object_with_defaults_has_not_drifted() -> None:
    assert drift.drifted(DEPLOYMENT, live()) == []
    assert not drift.needs_update(DEPLOYMENT, live())


def test_leaf_changes_are_reported_at_their_paths() -> None:
    actual = live()
    actual["metadata"]["labels"]["app.kubernetes.io/name"] = "other"
    actual["spec"]["replicas"] = 3
    app = actual["spec"]["template"]["spec"]["containers"][1]
    app["image"] = "web:2"
    app["args"][1] = "9090"
    app["env"][1]["value"] = "changed"  # A (the list was reversed)
    assert drift.drifted(DEPLOYMENT, actual) == [
        'metadata.labels["app.kubernetes.io/name"]',
        "spec.replicas",
        "spec.template.spec.containers[name=app].image",
        "spec.template.spec.containers[name=app].args[1]",
        "spec.template.spec.containers[name=app].env[name=A].value",
    ]
    assert drift.needs_update(DEPLOYMENT, actual)


def test_missing_map_list_item_and_list_length() -> None:
    actual = live()
    pod = actual["spec"]["template"]["spec"]
    pod["containers"] = [c for c in pod["containers"] if c["name"] != "sidecar"]
    pod["containers"][0]["args"].append("--extra")
    assert drift.drifted(DEPLOYMENT, actual) == [
        "spec.template.spec.containers[name=app].args",
        "spec.template.spec.containers[name=sidecar]",
    ]


def test_server_metadata_and_status_are_ignored_unless_asked() -> None:
    desired = live()  # carries uid, resourceVersion, managedFields, status...
    actual = live()
    actual["metadata"].update(resourceVersion="43", generation=4, managedFields=[])
    actual["status"]["replicas"] = 1
    assert drift.drifted(desired, actual) == []
    assert drift.drifted(desired, actual, include_status=True) == ["status.replicas"]


def test_status_conditions_are_a_map_list_by_type() -> None:
    desired = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    actual = {
        "status": {
            "conditions": [
                {"type": "Other", "status": "False"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "t"},
            ]
        }
    }
    assert drift.drifted(desired, actual, include_status=True) == []


def test_finalizers_are_a_set() -> None:
    desired = {"metadata": {"finalizers": ["a.io/x"]}}
    assert drift.drifted(desired, {"metadata": {"finalizers": ["b.io/y", "a.io/x"]}}) == []
    assert drift.drifted(desired, {"metadata": {"finalizers": ["b.io/y"]}}) == [
        "metadata.finalizers[a.io/x]"
    ]


def test_ports_match_by_port_and_defaulted_protocol() -> None:
    desired = {
        "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 53, "protocol": "UDP"}]}
    }
    actual = {
        "spec": {
            "ports": [
                {"port": 53, "protocol": "UDP"},
                {"port": 80, "protocol": "TCP", "targetPort": 8080},
            ]
        }
    }
    assert drift.drifted(desired, actual) == []
    actual["spec"]["ports"][0]["protocol"] = "TCP"
    assert drift.drifted(desired, actual) == ["spec.ports[port=53,protocol=UDP]"]


def test_omitempty_and_null() -> None:
    desired = {"spec": {"paused": False, "replicas": 0, "note": "", "tags": [], "extra": {}}}
    assert drift.drifted(desired, {"spec": {}}) == []
    assert drift.drifted(desired, {}) == []
    strict = drift.drifted(desired, {"spec": {}}, omitempty=False)
    assert strict == ["spec.paused", "spec.replicas", "spec.note"]  # empty containers: no leaves
    # null means "absent": a present value is drift, absent or empty is not.
    assert drift.drifted({"spec": {"x": None}}, {"spec": {"x": 1}}) == ["spec.x"]
    assert drift.drifted({"spec": {"x": None}}, {"spec": {}}) == []
    assert drift.drifted({"spec": {"x": None}}, {"spec": {"x": ""}}) == []
    assert drift.drifted({"spec": {"x": None}}, {"spec": {"x": ""}}, omitempty=False) == ["spec.x"]


def test_scalars_compare_as_json_values() -> None:
    assert drift.drifted({"a": 1}, {"a": 1.0}) == []
    assert drift.drifted({"a": True}, {"a": 1}) == ["a"]
    assert drift.drifted({"a": 1}, {"a": "1"}) == ["a"]
    assert drift.drifted({"a": {"b": 1}}, {"a": "x"}) == ["a"]
    assert drift.drifted({"a": [1]}, {"a": {"0": 1}}) == ["a"]
    assert drift.drifted({"a": "x"}, {"a": {"b": 1}}) == ["a"]


def test_missing_nested_maps_report_their_leaves() -> None:
    desired = {"spec": {"template": {"metadata": {"labels": {"a": "1", "b": "2"}}}}}
    assert drift.drifted(desired, {"spec": {}}) == [
        "spec.template.metadata.labels.a",
        "spec.template.metadata.labels.b",
    ]


def test_custom_list_keys() -> None:
    desired = {"spec": {"members": [{"id": "a", "weight": 1}]}}
    actual = {"spec": {"members": [{"id": "b", "weight": 5}, {"id": "a", "weight": 1}]}}
    assert drift.drifted(desired, actual) == ["spec.members"]  # atomic by default
    keys = {**drift.LIST_KEYS, "members": ("id",)}
    assert drift.drifted(desired, actual, list_keys=keys) == []


def test_models_are_accepted() -> None:
    class Model:
        def to_object(self) -> dict[str, Any]:
            return copy.deepcopy(DEPLOYMENT)

    assert drift.drifted(Model(), live()) == []
    with pytest.raises(TypeError):
        drift.drifted(3, {})  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------------------

SCALARS = st.one_of(st.text(max_size=4), st.integers(-3, 3), st.booleans())
KEYS = st.sampled_from(["a", "b", "image", "value", "app.kubernetes.io/name", "x-y"])


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """Partial desired objects: maps, atomic scalar lists, and a named map-list."""
    if depth >= 3:
        return draw(st.dictionaries(KEYS, SCALARS, max_size=3))
    values = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), trees(depth + 1))
    tree = draw(st.dictionaries(KEYS, values, max_size=4))
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(["p", "q", "r"]), unique=True, max_size=3))
        tree["containers"] = [{"name": n, **draw(trees(depth + 1))} for n in names]
    return tree


def with_server_defaults(data: st.DataObject, obj: Any, path: str = "") -> Any:
    """``obj`` as a server might return it: extra (defaulted) fields in every map, extra and
    reordered items in map-lists, server metadata, status."""
    if isinstance(obj, dict):
        out = {k: with_server_defaults(data, v, k) for k, v in obj.items()}
        for extra in data.draw(st.lists(st.sampled_from(["zDefault", "zOther"]), max_size=2)):
            out.setdefault(extra, data.draw(SCALARS))
        return out
    if isinstance(obj, list):
        items = [with_server_defaults(data, v) for v in obj]
        if path == "containers":
            if data.draw(st.booleans()):
                items.append({"name": "injected", "image": "sidecar"})
            items = data.draw(st.permutations(items))
        return items
    return obj


def leaves(obj: Any, path: str = "", field: str = "") -> list[tuple[str, list[Any]]]:
    """(expected drift path, access route) for every scalar leaf of a desired tree."""
    found: list[tuple[str, list[Any]]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            shown = (
                f"{path}.{k}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", k) else f'{path}["{k}"]'
            )
            shown = shown.lstrip(".")
            found += [(p, [k, *route]) for p, route in leaves(v, shown, k)]
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            step: Any
            if field == "containers":
                shown, step = f"{path}[name={v['name']}]", ("name", v["name"])
            else:
                shown, step = f"{path}[{i}]", i
            found += [(p, [step, *route]) for p, route in leaves(v, shown)]
    else:
        found.append((path, []))
    return found


def locate(obj: Any, route: list[Any]) -> tuple[Any, Any]:
    """The container and key of the leaf at ``route`` inside ``obj`` (map-lists by name)."""
    *parents, last = route
    for step in parents:
        obj = (
            next(i for i in obj if i.get("name") == step[1])
            if isinstance(step, tuple)
            else obj[step]
        )
    return obj, last


@settings(max_examples=200)
@given(trees(), st.data())
def test_an_object_never_drifts_from_itself_with_server_defaults(
    desired: dict[str, Any], data: st.DataObject
) -> None:
    desired = {"metadata": {"name": "n"}, "spec": desired}
    actual = with_server_defaults(data, desired)
    actual["metadata"].update(uid="u", resourceVersion="7", managedFields=[{}], generation=2)
    actual["status"] = {"observedGeneration": 2}
    assert drift.drifted(desired, actual) == []
    assert not drift.needs_update(desired, actual)


@settings(max_examples=200)
@given(trees(), st.data())
def test_any_change_to_a_desired_leaf_is_reported(
    desired: dict[str, Any], data: st.DataObject
) -> None:
    desired = {"spec": desired}
    found = [leaf for leaf in leaves(desired) if leaf[1][-1] != "name"]
    assume(found)
    path, route = data.draw(st.sampled_from(found))
    actual = with_server_defaults(data, desired)
    container, key = locate(actual, route)
    old = container[key]
    new = data.draw(SCALARS)
    assume(type(new) is not type(old) or new != old)
    container[key] = new
    assert drift.drifted(desired, actual) == [path]
    assert drift.needs_update(desired, actual)
