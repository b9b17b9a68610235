"""Tests for pilothouse.apiserver.apply.apply: the canonical server-side apply scenarios on a
Deployment, a CRD with a map list, unknown (preserve-unknown-fields) content, request
validation and the kubectl client-side-apply upgrade path."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver import schemas
from pilothouse.apiserver.apply.apply import (
    LAST_APPLIED,
    ApplyConflict,
    server_side_apply,
)
from pilothouse.apiserver.apply.fieldpath import FieldSet, PathElement
from pilothouse.apiserver.apply.managed import record_update, reset_fields_for
from pilothouse.apiserver.apply.merge import merge, remove_items
from pilothouse.apiserver.apply.typed import fields_of
from pilothouse.apiserver.errors import ApiError

T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"
DEP = schemas.builtin_schema("apps/v1", "Deployment")
F = PathElement.field


def deployment(spec: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", **meta},
    }
    if spec is not None:
        obj["spec"] = spec
    return obj


def containers(*items: dict[str, Any]) -> dict[str, Any]:
    return {"template": {"spec": {"containers": list(items)}}}


def apply(
    live: dict[str, Any] | None,
    cfg: dict[str, Any],
    manager: str,
    force: bool = False,
    now: str = T1,
    **kw: Any,
) -> dict[str, Any]:
    return server_side_apply(live, cfg, manager, force, DEP, "apps/v1", now, **kw)


def owners(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e["fieldsV1"] for e in obj["metadata"].get("managedFields", [])}


def conflict_of(exc: pytest.ExceptionInfo[ApplyConflict]) -> dict[str, Any]:
    return exc.value.status()


# -- two managers on a Deployment ---------------------------------------------------------


def test_apply_creates_and_records_the_applier() -> None:
    obj = apply(None, deployment({"replicas": 3}, labels={"app": "web"}), "alice")
    assert obj["spec"] == {"replicas": 3}
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "alice",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}},
        }
    ]


def test_conflict_on_replicas() -> None:
    obj = apply(None, deployment({"replicas": 3}), "alice")
    with pytest.raises(ApplyConflict) as exc:
        apply(obj, deployment({"replicas": 5}), "bob")
    status = conflict_of(exc)
    assert status["code"] == 409
    assert status["reason"] == "Conflict"
    assert (
        status["message"] == 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas'
    )
    assert status["details"] == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "alice"',
                "field": ".spec.replicas",
            }
        ]
    }


def test_conflict_with_an_update_manager_names_its_version() -> None:
    created = deployment({"replicas": 1, "paused": False})
    created["metadata"]["managedFields"] = record_update(
        None, created, "kubectl-client-side-apply", "apps/v1", T1
    )
    with pytest.raises(ApplyConflict) as exc:
        apply(created, deployment({"replicas": 2, "paused": True}), "kubectl")
    status = conflict_of(exc)
    assert status["message"] == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using '
        "apps/v1:\n- .spec.paused\n- .spec.replicas"
    )
    assert [c["field"] for c in status["details"]["causes"]] == [".spec.paused", ".spec.replicas"]
    assert status["details"]["causes"][0]["message"] == (
        'conflict with "kubectl-client-side-apply" using apps/v1'
    )


def test_force_takes_ownership() -> None:
    obj = apply(None, deployment({"replicas": 3, "paused": True}), "alice")
    obj = apply(obj, deployment({"replicas": 5}), "bob", force=True, now=T2)
    assert obj["spec"] == {"replicas": 5, "paused": True}
    assert owners(obj) == {
        "alice": {"f:spec": {"f:paused": {}}},
        "bob": {"f:spec": {"f:replicas": {}}},
    }


def test_same_value_is_shared_ownership() -> None:
    obj = apply(None, deployment({"replicas": 3}), "alice")
    obj = apply(obj, deployment({"replicas": 3}), "bob", now=T2)
    assert owners(obj) == {
        "alice": {"f:spec": {"f:replicas": {}}},
        "bob": {"f:spec": {"f:replicas": {}}},
    }
    # Alice letting go of a shared field leaves it in place, owned by bob alone.
    obj = apply(obj, deployment({}), "alice", now=T3)
    assert obj["spec"] == {"replicas": 3}
    assert owners(obj) == {"bob": {"f:spec": {"f:replicas": {}}}}
    # Bob letting go removes it.
    obj = apply(obj, deployment({}), "bob", now=T3)
    assert "spec" not in obj
    assert "managedFields" not in obj["metadata"]


def test_omitting_a_field_removes_it() -> None:
    obj = apply(None, deployment({"replicas": 3, "paused": True}), "alice")
    obj = apply(obj, deployment({"replicas": 3}), "alice", now=T2)
    assert obj["spec"] == {"replicas": 3}
    assert owners(obj) == {"alice": {"f:spec": {"f:replicas": {}}}}


def test_omitting_keeps_fields_someone_else_set() -> None:
    live = deployment({"replicas": 3, "minReadySeconds": 5})
    live["metadata"]["managedFields"] = record_update(None, live, "editor", "apps/v1", T1)
    obj = apply(live, deployment({"replicas": 3}), "alice", now=T2)
    obj = apply(obj, deployment({}), "alice", now=T3)
    # editor still owns replicas (shared) and minReadySeconds: nothing is pruned.
    assert obj["spec"] == {"replicas": 3, "minReadySeconds": 5}


def test_unowned_fields_survive_pruning() -> None:
    obj = apply(None, deployment({"replicas": 3, "paused": True}), "alice")
    obj["spec"]["revisionHistoryLimit"] = 10  # e.g. set by defaulting: nobody owns it
    obj = apply(obj, deployment({"replicas": 3}), "alice", now=T2)
    assert obj["spec"] == {"replicas": 3, "revisionHistoryLimit": 10}


def test_update_then_apply_conflicts_then_apply_after_force() -> None:
    obj = apply(None, deployment({"replicas": 3}), "alice")
    edited = copy.deepcopy(obj)
    edited["spec"]["replicas"] = 9
    edited["metadata"]["managedFields"] = record_update(obj, edited, "kubectl-edit", "apps/v1", T2)
    assert owners(edited) == {"kubectl-edit": {"f:spec": {"f:replicas": {}}}}
    with pytest.raises(ApplyConflict, match=r'conflict with "kubectl-edit" using apps/v1'):
        apply(edited, deployment({"replicas": 3}), "alice", now=T3)
    obj = apply(edited, deployment({"replicas": 3}), "alice", force=True, now=T3)
    assert obj["spec"]["replicas"] == 3
    assert owners(obj) == {"alice": {"f:spec": {"f:replicas": {}}}}


# -- list semantics ------------------------------------------------------------------------------


def test_map_list_containers_merge_by_name() -> None:
    obj = apply(None, deployment(containers({"name": "app", "image": "app:1"})), "alice")
    obj = apply(obj, deployment(containers({"name": "sidecar", "image": "side:1"})), "bob", now=T2)
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["app", "sidecar"]
    # Alice updates her container without touching bob's.
    obj = apply(obj, deployment(containers({"name": "app", "image": "app:2"})), "alice", now=T3)
    assert obj["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "app:2"},
        {"name": "sidecar", "image": "side:1"},
    ]
    # Bob setting alice's image conflicts on exactly that field.
    with pytest.raises(ApplyConflict) as exc:
        apply(obj, deployment(containers({"name": "app", "image": "evil"})), "bob", now=T3)
    fields = [c["field"] for c in conflict_of(exc)["details"]["causes"]]
    assert fields == ['.spec.template.spec.containers[name="app"].image']
    # Alice dropping her container removes it, bob's stays.
    obj = apply(obj, deployment({"replicas": 1}), "alice", now=T3)
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "sidecar", "image": "side:1"}]


def test_applied_order_wins_for_shared_items() -> None:
    c = [{"name": n, "image": n} for n in ("a", "b", "c")]
    obj = apply(None, deployment(containers(*c)), "alice")
    obj = apply(obj, deployment(containers(c[2], c[0])), "bob", now=T2)
    names = [x["name"] for x in obj["spec"]["template"]["spec"]["containers"]]
    assert names == ["b", "c", "a"]


def test_set_list_finalizers() -> None:
    obj = apply(None, deployment(finalizers=["a.io/x"]), "alice")
    obj = apply(obj, deployment(finalizers=["b.io/y"]), "bob", now=T2)
    assert obj["metadata"]["finalizers"] == ["a.io/x", "b.io/y"]
    assert owners(obj)["bob"] == {"f:metadata": {"f:finalizers": {'v:"b.io/y"': {}}}}
    obj = apply(obj, deployment(), "alice", now=T3)
    assert obj["metadata"]["finalizers"] == ["b.io/y"]


def test_atomic_list_is_replaced_and_conflicts_as_a_whole() -> None:
    base = {"name": "app", "image": "x"}
    obj = apply(None, deployment(containers(dict(base, args=["--a", "--b"]))), "alice")
    with pytest.raises(ApplyConflict) as exc:
        apply(obj, deployment(containers(dict(base, args=["--c"]))), "bob", now=T2)
    fields = [c["field"] for c in conflict_of(exc)["details"]["causes"]]
    assert fields == ['.spec.template.spec.containers[name="app"].args']
    obj = apply(obj, deployment(containers(dict(base, args=["--c"]))), "bob", True, T2)
    assert obj["spec"]["template"]["spec"]["containers"][0]["args"] == ["--c"]


def test_atomic_map_selector() -> None:
    obj = apply(None, deployment({"selector": {"matchLabels": {"a": "1", "b": "2"}}}), "alice")
    obj = apply(obj, deployment({"selector": {"matchLabels": {"c": "3"}}}), "alice", now=T2)
    assert obj["spec"]["selector"] == {"matchLabels": {"c": "3"}}


def test_ports_key_defaults_to_tcp() -> None:
    ports = [{"containerPort": 80}, {"containerPort": 80, "protocol": "UDP"}]
    obj = apply(None, deployment(containers({"name": "a", "ports": ports})), "alice")
    assert obj["spec"]["template"]["spec"]["containers"][0]["ports"] == ports
    obj = apply(obj, deployment(containers({"name": "a", "ports": ports[1:]})), "alice", now=T2)
    assert obj["spec"]["template"]["spec"]["containers"][0]["ports"] == ports[1:]


# -- CRDs and unknown content -----------------------------------------------------------------

CRD = schemas.crd_schema(
    {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "spec": {
                "type": "object",
                "properties": {
                    "routes": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["host", "port"],
                        "items": {
                            "type": "object",
                            "properties": {
                                "host": {"type": "string"},
                                "port": {"type": "integer"},
                                "weight": {"type": "integer"},
                            },
                        },
                    },
                    "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        },
    }
)


def route(host: str, port: int, **extra: Any) -> dict[str, Any]:
    return {"host": host, "port": port, **extra}


def cr(spec: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "t"}}
    if spec is not None:
        obj["spec"] = spec
    obj.update(top)
    return obj


def apply_cr(live: Any, cfg: dict[str, Any], manager: str, force: bool = False, **kw: Any) -> Any:
    return server_side_apply(live, cfg, manager, force, CRD, "x.io/v1", T1, **kw)


def test_crd_map_list_with_composite_keys() -> None:
    obj = apply_cr(None, cr({"routes": [route("a", 80, weight=1), route("a", 443)]}), "alice")
    obj = apply_cr(obj, cr({"routes": [route("a", 80, weight=1), route("b", 80)]}), "bob")
    assert obj["spec"]["routes"] == [route("a", 80, weight=1), route("a", 443), route("b", 80)]
    bob = owners(obj)["bob"]["f:spec"]["f:routes"]
    assert list(bob) == ['k:{"host":"a","port":80}', 'k:{"host":"b","port":80}']
    with pytest.raises(ApplyConflict) as exc:
        apply_cr(obj, cr({"routes": [route("a", 80, weight=2)]}), "carol")
    fields = [c["field"] for c in conflict_of(exc)["details"]["causes"]]
    assert fields == [
        '.spec.routes[host="a",port=80].weight',
        '.spec.routes[host="a",port=80].weight',
    ]
    obj = apply_cr(obj, cr({"routes": [route("b", 80)]}), "alice")
    # alice's exclusive route goes; the shared one stays for bob.
    assert obj["spec"]["routes"] == [route("a", 80, weight=1), route("b", 80)]


def test_preserve_unknown_fields_is_granular_maps_atomic_lists() -> None:
    obj = apply_cr(None, cr({"config": {"a": {"x": 1}, "l": [1, 2]}}), "alice")
    obj = apply_cr(obj, cr({"config": {"a": {"y": 2}, "b": True}}), "bob")
    assert obj["spec"]["config"] == {"a": {"x": 1, "y": 2}, "l": [1, 2], "b": True}
    assert owners(obj)["alice"]["f:spec"]["f:config"] == {
        "f:a": {".": {}, "f:x": {}},
        "f:l": {},
    }
    with pytest.raises(ApplyConflict, match=r"\.spec\.config\.l"):
        apply_cr(obj, cr({"config": {"l": [3]}}), "bob")


def test_unknown_schema_applies_with_deduced_types() -> None:
    cfg = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "a": {"b": [1]}}
    obj = server_side_apply(None, cfg, "m", False, None, "v1", T1)
    assert obj["a"] == {"b": [1]}
    assert owners(obj)["m"] == {"f:a": {".": {}, "f:b": {}}}


def test_status_subresource_tracks_status_separately() -> None:
    obj = apply_cr(None, cr({"routes": []}, status={"ready": False}), "alice")
    # Applied to the main resource with a status subresource: status is not owned.
    obj = apply_cr(
        obj,
        cr({"routes": [route("a", 1)]}, status={"ready": True}),
        "alice",
        reset_fields=reset_fields_for("", True),
    )
    assert "f:status" not in owners(obj)["alice"]
    status = apply_cr(obj, cr(status={"ready": True}), "ctrl", subresource="status")
    entry = next(e for e in status["metadata"]["managedFields"] if e["manager"] == "ctrl")
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {"f:ready": {}}}


# -- request validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cfg", "code", "message"),
    [
        (
            {"kind": "Deployment", "metadata": {"name": "w"}},
            400,
            "invalid object type: /, Kind=Deployment",
        ),
        (
            {"apiVersion": "apps/v1beta2", "kind": "Deployment", "metadata": {"name": "w"}},
            400,
            "invalid object type: apps/v1beta2, Kind=Deployment",
        ),
        (
            deployment(managedFields=[]),
            400,
            "metadata.managedFields must be nil",
        ),
        ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {}}, 400, "metadata.name"),
        (
            deployment({"bogus": 1}),
            500,
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
            ".spec.bogus: field not declared in schema",
        ),
        (
            deployment(containers({"name": "a"}, {"name": "a"})),
            500,
            '.spec.template.spec.containers: duplicate entries for key [name="a"]',
        ),
        (
            deployment(containers({"image": "x"})),
            500,
            ".spec.template.spec.containers: element 0: associative list with keys has an "
            'element that omits key field "name"',
        ),
    ],
)
def test_request_validation(cfg: dict[str, Any], code: int, message: str) -> None:
    with pytest.raises(ApiError) as exc:
        apply(None, cfg, "m")
    assert exc.value.code == code
    assert message in exc.value.message


def test_managed_fields_null_is_accepted() -> None:
    obj = apply(None, deployment(managedFields=None), "m")
    assert owners(obj) == {}  # only stripped metadata was applied


# -- no-ops, inputs, kubectl ------------------------------------------------------------------


def test_noop_apply_keeps_the_timestamp_and_inputs_are_untouched() -> None:
    cfg = deployment({"replicas": 3})
    frozen = copy.deepcopy(cfg)
    obj = apply(None, cfg, "alice")
    before = copy.deepcopy(obj)
    again = apply(obj, cfg, "alice", now=T3)
    assert again == before
    assert obj == before and cfg == frozen


def test_kubectl_upgrade_from_client_side_apply() -> None:
    last = deployment({"replicas": 2})
    live = deployment({"replicas": 2}, annotations={LAST_APPLIED: json.dumps(last)})
    live["metadata"]["managedFields"] = record_update(
        None, live, "kubectl-client-side-apply", "apps/v1", T1
    )
    cfg = deployment({"replicas": 4})
    # Another manager name conflicts...
    with pytest.raises(ApplyConflict):
        apply(live, cfg, "someone")
    # ...kubectl is forgiven for fields the annotation set, and refreshes the annotation.
    obj = apply(live, cfg, "kubectl", now=T2)
    assert obj["spec"]["replicas"] == 4
    assert owners(obj)["kubectl"] == {"f:spec": {"f:replicas": {}}}
    assert json.loads(obj["metadata"]["annotations"][LAST_APPLIED]) == cfg


# -- merge / remove properties -----------------------------------------------------------------

json_leaf = st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans())
json_values = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)
objects = st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=3)


@given(objects)
def test_merge_with_itself_is_identity(obj: dict[str, Any]) -> None:
    assert merge(obj, obj, None) == obj


@given(objects, objects)
def test_merged_object_sets_everything_applied(live: dict[str, Any], cfg: dict[str, Any]) -> None:
    merged = merge(live, cfg, None)
    applied = fields_of(cfg, None)
    assert applied.difference(fields_of(merged, None)).empty


@given(objects)
def test_removing_all_members_empties_an_object(obj: dict[str, Any]) -> None:
    fs = FieldSet.from_paths((F(k),) for k in obj)
    assert remove_items(obj, fs, None) == {}


def _leaves(obj: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(obj, dict) and obj:
        out: dict[tuple[str, ...], Any] = {}
        for k, v in obj.items():
            out.update(_leaves(v, (*prefix, k)))
        return out
    return {prefix: obj}


configs = st.dictionaries(
    st.sampled_from(["a", "b"]),
    st.one_of(
        st.integers(0, 2),
        st.lists(st.integers(0, 2), max_size=2),
        st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 2), max_size=2),
    ),
    max_size=2,
)


@given(st.lists(st.tuples(st.sampled_from(["m1", "m2", "m3"]), configs), max_size=6))
def test_forced_applies_keep_ownership_consistent(steps: list[tuple[str, dict[str, Any]]]) -> None:
    obj: dict[str, Any] | None = None
    for manager, spec in steps:
        cfg = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": spec}
        obj = server_side_apply(obj, cfg, manager, True, None, "v1", T1)
        # What was just applied is in the object, with the applied values.
        got = _leaves(obj["spec"]) if "spec" in obj else {}
        for path, value in _leaves(spec).items():
            if path and value != {}:
                assert got.get(path) == value
        # Every owned field exists, and the applier owns exactly what it applied.
        present = fields_of(obj, None)
        for entry in obj["metadata"].get("managedFields", []):
            owned = FieldSet.from_fields_v1(entry["fieldsV1"])
            assert owned.difference(present).empty
        mine = {e["manager"]: e for e in obj["metadata"].get("managedFields", [])}.get(manager)
        applied = fields_of({"spec": spec}, None)
        if mine is None:
            assert applied.empty
        else:
            assert FieldSet.from_fields_v1(mine["fieldsV1"]) == applied


def test_undecodable_live_managed_fields_fail_the_apply() -> None:
    live = deployment({"replicas": 1}, managedFields=[{"manager": "x", "operation": "Nope"}])
    with pytest.raises(ApiError) as exc:
        apply(live, deployment({"replicas": 2}), "m")
    assert exc.value.code == 500
    assert "failed to decode managed fields" in exc.value.message


def test_record_update_with_a_crd_schema() -> None:
    obj = cr({"routes": [route("a", 1)], "config": {"k": [1]}})
    managed = record_update(None, obj, "creator", "x.io/v1", T1, schema=CRD)
    assert managed[0]["fieldsV1"]["f:spec"] == {
        ".": {},
        "f:config": {".": {}, "f:k": {}},
        "f:routes": {
            ".": {},
            'k:{"host":"a","port":1}': {".": {}, "f:host": {}, "f:port": {}},
        },
    }
