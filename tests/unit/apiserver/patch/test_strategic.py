"""Strategic merge patch on real built-in schemas: kubectl-style patches on Deployments and
Pods, every directive, upstream's list ordering and error statuses, and the two-way
create/apply round trip."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.apiserver import schemas
from pilothouse.apiserver.errors import ApiError
from pilothouse.apiserver.patch import mergepatch, strategic, strategic_diff
from pilothouse.apiserver.patch.jsonpatch import INVALID_MESSAGE, json_equal

DEPLOYMENT = schemas.builtin_schema("apps/v1", "Deployment")
POD = schemas.builtin_schema("v1", "Pod")


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "labels": {"app": "web", "tier": "frontend"},
            "finalizers": ["a.example.com/x", "b.example.com/y"],
        },
        "spec": {
            "replicas": 2,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "app:1",
                            "args": ["--a", "--b"],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 80, "name": "http"}],
                        },
                        {"name": "sidecar", "image": "side:1"},
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                },
            },
        },
    }


def pod_spec(result: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = result["spec"]["template"]["spec"]
    return spec


def names(items: list[dict[str, Any]], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


def template_patch(spec: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": spec}}}


# -- merging by key --------------------------------------------------------------------------


def test_containers_merge_by_name() -> None:
    patch = template_patch({"containers": [{"name": "app", "image": "app:2"}]})
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    app, sidecar = pod_spec(result)["containers"]
    assert app["image"] == "app:2" and app["args"] == ["--a", "--b"] and len(app["env"]) == 2
    assert sidecar == {"name": "sidecar", "image": "side:1"}


def test_kubectl_apply_style_patch_keeps_the_requested_order() -> None:
    patch = template_patch(
        {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}, {"name": "x"}],
            "containers": [{"name": "x", "image": "x:1"}],
        }
    )
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert names(pod_spec(result)["containers"]) == ["app", "sidecar", "x"]


def test_new_elements_lead_without_an_order_directive() -> None:
    """Upstream's ordering: a new element goes before the server's elements it was not
    anchored after -- ``kubectl patch --type=strategic`` on a real cluster does the same."""
    patch = template_patch({"containers": [{"name": "x", "image": "x:1"}]})
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert names(pod_spec(result)["containers"]) == ["x", "app", "sidecar"]
    patch = template_patch({"containers": [{"name": "app"}, {"name": "x", "image": "x:1"}]})
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert names(pod_spec(result)["containers"]) == ["app", "x", "sidecar"]


def test_env_merges_by_name_and_deletes_by_directive() -> None:
    patch = template_patch(
        {
            "containers": [
                {
                    "name": "app",
                    "env": [{"name": "B", "$patch": "delete"}, {"name": "A", "value": "9"}],
                    "$setElementOrder/env": [{"name": "A"}],
                }
            ]
        }
    )
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert pod_spec(result)["containers"][0]["env"] == [{"name": "A", "value": "9"}]


def test_ports_merge_by_container_port() -> None:
    patch = template_patch(
        {"containers": [{"name": "app", "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}
    )
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert pod_spec(result)["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"}
    ]
    patch = template_patch({"containers": [{"name": "app", "ports": [{"containerPort": 443}]}]})
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert names(pod_spec(result)["containers"][0]["ports"], "containerPort") == [443, 80]


def test_lists_without_a_merge_strategy_are_replaced() -> None:
    patch = template_patch(
        {
            "tolerations": [{"key": "b", "operator": "Equal", "value": "v"}],
            "containers": [{"name": "app", "args": ["--c"]}],
        }
    )
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert pod_spec(result)["tolerations"] == [{"key": "b", "operator": "Equal", "value": "v"}]
    assert pod_spec(result)["containers"][0]["args"] == ["--c"]


def test_maps_merge_and_null_deletes() -> None:
    patch = {"metadata": {"labels": {"tier": None, "track": "canary"}, "annotations": {"a": "b"}}}
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert result["metadata"]["labels"] == {"app": "web", "track": "canary"}
    assert result["metadata"]["annotations"] == {"a": "b"}
    result = strategic.apply(deployment(), {"spec": {"strategy": None, "paused": None}}, DEPLOYMENT)
    assert "strategy" not in result["spec"] and "paused" not in result["spec"]


# -- finalizers: a primitive list with the merge strategy ------------------------------------


def test_finalizers_merge_as_a_set() -> None:
    patch = {"metadata": {"finalizers": ["b.example.com/y", "c.example.com/z"]}}
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert result["metadata"]["finalizers"] == [
        "a.example.com/x",
        "b.example.com/y",
        "c.example.com/z",
    ]


def test_finalizers_delete_from_primitive_list_and_set_order() -> None:
    patch = {
        "metadata": {
            "$deleteFromPrimitiveList/finalizers": ["a.example.com/x"],
            "$setElementOrder/finalizers": ["c.example.com/z", "b.example.com/y"],
            "finalizers": ["c.example.com/z"],
        }
    }
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert result["metadata"]["finalizers"] == ["c.example.com/z", "b.example.com/y"]


def test_deleting_from_an_absent_list_is_a_no_op() -> None:
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}
    result = strategic.apply({"metadata": {"name": "a"}}, patch, DEPLOYMENT)
    assert result == {"metadata": {"name": "a"}}


# -- retainKeys ------------------------------------------------------------------------------


def test_volume_source_switch_with_retain_keys() -> None:
    patch = template_patch(
        {
            "$setElementOrder/volumes": [{"name": "data"}],
            "volumes": [
                {
                    "name": "data",
                    "$retainKeys": ["configMap", "name"],
                    "configMap": {"name": "cm"},
                }
            ],
        }
    )
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert pod_spec(result)["volumes"] == [{"name": "data", "configMap": {"name": "cm"}}]


def test_strategy_switch_with_retain_keys() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_retain_keys_must_cover_the_patch() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 2}}}}
    with pytest.raises(ApiError) as info:
        strategic.apply(deployment(), patch, DEPLOYMENT)
    assert (info.value.code, info.value.message) == (400, "invalid patch format of retainKeys")


# -- $patch directives ---------------------------------------------------------------------


def test_patch_replace_on_a_map() -> None:
    patch = {"metadata": {"labels": {"$patch": "replace", "only": "this"}}}
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert result["metadata"]["labels"] == {"only": "this"}


def test_patch_replace_in_a_list() -> None:
    patch = template_patch(
        {"containers": [{"name": "solo", "image": "s:1"}, {"$patch": "replace"}]}
    )
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert pod_spec(result)["containers"] == [{"name": "solo", "image": "s:1"}]


def test_patch_delete_on_a_map_leaves_it_empty() -> None:
    patch = {"spec": {"template": {"metadata": {"labels": {"$patch": "delete"}}}}}
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert result["spec"]["template"]["metadata"]["labels"] == {}


def test_patch_delete_of_a_container() -> None:
    patch = template_patch({"containers": [{"name": "sidecar", "$patch": "delete"}]})
    result = strategic.apply(deployment(), patch, DEPLOYMENT)
    assert names(pod_spec(result)["containers"]) == ["app"]


def test_directives_in_values_added_from_scratch_are_processed() -> None:
    patch = {"spec": {"containers": [{"name": "c", "env": [{"name": "X", "$patch": "delete"}]}]}}
    result = strategic.apply({"spec": {}}, patch, POD)
    assert result == {"spec": {"containers": [{"name": "c", "env": []}]}}


# -- errors --------------------------------------------------------------------------------


def apply_error(patch: dict[str, Any], original: dict[str, Any] | None = None) -> ApiError:
    with pytest.raises(ApiError) as info:
        strategic.apply(original or deployment(), patch, DEPLOYMENT)
    return info.value


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            template_patch({"containers": [{"image": "nginx"}]}),
            "map: map[image:nginx] does not contain declared merge key: name",
        ),
        (
            template_patch({"containers": [{"image": "x", "$patch": "delete"}]}),
            "map: map[$patch:delete image:x] does not contain declared merge key: name",
        ),
        (
            {"spec": {"$patch": "merge", "replicas": 3}},
            "unknown patch type: merge in map: map[$patch:merge replicas:3]",
        ),
        (
            template_patch({"containers": [{"name": "app", "$patch": "merge"}]}),
            "merging lists cannot yet be specified in the patch",
        ),
        (
            template_patch({"containers": [{"name": "app", "$patch": "frob"}]}),
            "unknown patch type: frob in map: map[$patch:frob name:app]",
        ),
        (
            template_patch(
                {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{"name": "x", "image": "x"}],
                }
            ),
            "The order in patch list:\n[map[image:x name:x]]\n doesn't match "
            "$setElementOrder list:\n[map[name:app]]\n",
        ),
        (
            {"metadata": {"finalizers": ["a", 1]}},
            "list element types are not identical: [[a.example.com/x b.example.com/y] [a 1]]",
        ),
        (
            {"metadata": {"$setElementOrder/finalizers": "a"}},
            "expected a []interface {}, but received a string",
        ),
    ],
)
def test_plain_go_errors_are_500s_with_upstream_wording(patch: Any, message: str) -> None:
    err = apply_error(patch)
    assert (err.code, err.reason, err.message) == (500, "", message)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, "invalid patch format of retainKeys"),
        (
            {"metadata": {"$deleteFromPrimitiveListX": ["a"]}},
            "invalid patch format of primitive list",
        ),
        (
            {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
            "invalid patch format of primitive list",
        ),
        (
            {"metadata": {"$setElementOrderfinalizers": []}},
            "invalid patch format of setElementOrder list",
        ),
    ],
)
def test_bad_directive_formats_are_bad_requests(patch: Any, message: str) -> None:
    err = apply_error(patch)
    assert (err.code, err.reason, err.message) == (400, "BadRequest", message)


def test_lists_of_lists_are_the_generic_422() -> None:
    err = apply_error({"metadata": {"finalizers": [["x"]]}}, {"metadata": {"finalizers": []}})
    assert (err.code, err.reason, err.message) == (422, "Invalid", INVALID_MESSAGE)
    assert str(err.__cause__) == "lists of lists are not supported"


def test_non_object_patches_are_bad_requests() -> None:
    err = apply_error([{"op": "add"}])  # type: ignore[arg-type]
    assert err.code == 400
    assert (
        err.message == "json: cannot unmarshal array into Go value of type map[string]interface {}"
    )
    assert strategic.apply({"a": 1}, None, None) == {"a": 1}  # type: ignore[arg-type]


# -- unknown schema ------------------------------------------------------------------------


def test_unknown_schema_treats_lists_as_atomic() -> None:
    result = strategic.apply(deployment(), template_patch({"containers": [{"name": "x"}]}), None)
    assert pod_spec(result)["containers"] == [{"name": "x"}]
    result = strategic.apply(
        {"spec": {"x": {"a": 1}}}, {"spec": {"x": {"$patch": "replace"}}}, None
    )
    assert result == {"spec": {"x": {}}}


def test_fields_unknown_to_the_schema_fall_back_to_merge_semantics() -> None:
    original = {"spec": {"extra": {"list": [1, 2], "keep": True}}}
    result = strategic.apply(original, {"spec": {"extra": {"list": [3]}}}, DEPLOYMENT)
    assert result == {"spec": {"extra": {"list": [3], "keep": True}}}


def test_inputs_are_not_mutated_and_results_share_nothing() -> None:
    original, patch = deployment(), template_patch({"containers": [{"name": "app", "image": "z"}]})
    original_before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    result = strategic.apply(original, patch, DEPLOYMENT)
    result["metadata"]["labels"]["new"] = "x"
    pod_spec(result)["containers"][1]["image"] = "changed"
    assert original == original_before and patch == patch_before


# -- upstream's own cases (strategicpatch/patch_test.go), on its MergeItem test type -------

_MERGE_ITEM_REF = {"$ref": "#/definitions/MergeItem"}
_DEFS: dict[str, Any] = {
    "MergeItem": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "other": {"type": "string"},
            "mergingList": {
                "type": "array",
                "items": _MERGE_ITEM_REF,
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
            },
            "nonMergingList": {"type": "array", "items": _MERGE_ITEM_REF},
            "mergingIntList": {
                "type": "array",
                "items": {"type": "integer"},
                "x-kubernetes-patch-strategy": "merge",
            },
            "simpleMap": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
}
MERGE_ITEM = schemas.SchemaNode(_DEFS["MergeItem"], _DEFS)


def ml(*items: Any) -> dict[str, Any]:
    return {"mergingList": [i if isinstance(i, dict) else {"name": i} for i in items]}


@pytest.mark.parametrize(
    ("original", "patch", "expected"),
    [
        pytest.param(
            {"mergingIntList": [1, 2]},
            {"mergingIntList": [2, 3]},
            {"mergingIntList": [1, 2, 3]},
            id="unique scalars when merging lists",
        ),
        pytest.param(
            {"simpleMap": {"key1": "1", "key2": "1"}},
            {"simpleMap": {"$patch": "delete"}},
            {"simpleMap": {}},
            id="delete map from nested map",
        ),
        pytest.param(ml(1, 2), ml({"$patch": "replace"}), ml(), id="delete all items"),
        pytest.param(ml(), ml(), ml(), id="merge empty merging lists"),
        pytest.param({"name": "1", "value": "1"}, {"$patch": "replace"}, {}, id="clear a map"),
        pytest.param(
            {"name": "1", "value": "1"},
            {"other": "a", "$patch": "replace"},
            {"other": "a"},
            id="add key and delete all keys from map",
        ),
        pytest.param(
            ml(1, 1, {"name": 2, "value": "a"}, 3, 3),
            ml({"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}),
            ml({"name": 2, "value": "a"}),
            id="delete all duplicate entries",
        ),
        pytest.param(
            ml(1, {"name": 2, "value": "b"}, 3),
            ml({"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}),
            ml(
                {"name": 3, "value": "c"},
                {"name": 1, "value": "a"},
                {"name": 2, "value": "b", "other": "x"},
            ),
            id="preserve the order from the patch in a merging list",
        ),
        pytest.param(
            ml(1, {"name": 2, "value": "b"}, 3),
            ml({"name": 3, "value": "c"}, {"name": 1, "value": "a"}),
            ml({"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}),
            id="preserve the order from the patch in a merging list 2",
        ),
        pytest.param(
            {"mergingIntList": [1, 2, 3]},
            {"mergingIntList": [3, 1]},
            {"mergingIntList": [2, 3, 1]},
            id="preserve the order from the patch in a merging int list",
        ),
        pytest.param(
            ml(1, 3),
            {
                "$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}],
                **ml({"name": 3, "value": "3"}, {"name": 1, "value": "1"}),
            },
            ml({"name": 3, "value": "3"}, {"name": 1, "value": "1"}),
            id="$setElementOrder naming an absent element",
        ),
        pytest.param(
            {"mergingIntList": [1, 3]},
            {"$setElementOrder/mergingIntList": [3, 2, 1]},
            {"mergingIntList": [3, 1]},
            id="$setElementOrder naming an absent int",
        ),
    ],
)
def test_upstream_cases(original: Any, patch: Any, expected: Any) -> None:
    assert strategic.apply(original, patch, MERGE_ITEM) == expected


@pytest.mark.parametrize(
    ("original", "patch", "message"),
    [
        (
            ml(1, 3, 2),
            {"$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}], **ml(3, 1)},
            "doesn't match",
        ),
        (
            {"mergingIntList": [1, 3, 2]},
            {"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]},
            "doesn't match",
        ),
        (ml({"name": 1, "value": "a"}), ml({"value": "b"}), "does not contain declared merge key"),
    ],
)
def test_upstream_error_cases(original: Any, patch: Any, message: str) -> None:
    with pytest.raises(ApiError, match=message):
        strategic.apply(original, patch, MERGE_ITEM)


# -- create_two_way and round trips ---------------------------------------------------------


def test_create_two_way_matches_kubectl() -> None:
    original = deployment()
    modified = deployment()
    modified["metadata"]["labels"]["tier"] = "backend"
    spec = pod_spec(modified)
    spec["containers"][0]["env"] = [{"name": "B", "value": "2"}]
    spec["containers"].append({"name": "new", "image": "n:1"})
    spec["volumes"] = [{"name": "data", "configMap": {"name": "cm"}}]
    modified["spec"]["strategy"] = {"type": "Recreate"}
    patch = strategic_diff.create_two_way(original, modified, DEPLOYMENT)
    assert patch == {
        "metadata": {"labels": {"tier": "backend"}},
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [
                        {"name": "app"},
                        {"name": "sidecar"},
                        {"name": "new"},
                    ],
                    "containers": [
                        {
                            "name": "app",
                            "$setElementOrder/env": [{"name": "B"}],
                            "env": [{"name": "A", "$patch": "delete"}],
                        },
                        {"name": "new", "image": "n:1"},
                    ],
                    "$setElementOrder/volumes": [{"name": "data"}],
                    "volumes": [
                        {
                            "name": "data",
                            "$retainKeys": ["configMap", "name"],
                            "configMap": {"name": "cm"},
                            "emptyDir": None,
                        }
                    ],
                }
            },
        },
    }
    assert strategic.apply(original, patch, DEPLOYMENT) == modified


def test_create_two_way_rejects_undiffable_lists() -> None:
    original = {"metadata": {"ownerReferences": [{"kind": "X"}]}}
    modified = {"metadata": {"ownerReferences": [{"kind": "Y"}]}}
    with pytest.raises(ValueError, match="does not contain declared merge key: uid"):
        strategic_diff.create_two_way(original, modified, DEPLOYMENT)


NAMES = st.sampled_from(["a", "b", "c", "d", "e"])
TEXT = st.sampled_from(["x", "y", "z", "1"])


def unique_by(key: str, element: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    return st.lists(element, max_size=4, unique_by=lambda e: e[key])


ENV = st.fixed_dictionaries({"name": NAMES}, optional={"value": TEXT})
PORTS = st.fixed_dictionaries(
    {"containerPort": st.sampled_from([80, 443, 8080])},
    optional={"name": TEXT, "protocol": st.sampled_from(["TCP", "UDP"])},
)
CONTAINERS = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "image": TEXT,
        "args": st.lists(TEXT, max_size=3),
        "env": unique_by("name", ENV),
        "ports": unique_by("containerPort", PORTS),
    },
)
VOLUMES = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "emptyDir": st.just({}),
        "configMap": st.fixed_dictionaries({"name": TEXT}),
        "secret": st.fixed_dictionaries({"secretName": TEXT}),
    },
)
STRATEGY = st.one_of(
    st.just({"type": "Recreate"}),
    st.fixed_dictionaries(
        {"type": st.just("RollingUpdate")},
        optional={"rollingUpdate": st.fixed_dictionaries({"maxSurge": st.integers(0, 2)})},
    ),
)
DEPLOYMENTS = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"name": st.just("web")},
            optional={
                "labels": st.dictionaries(NAMES, TEXT, max_size=3),
                "finalizers": st.lists(TEXT, max_size=4, unique=True),
            },
        )
    },
    optional={
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "replicas": st.integers(0, 3),
                "strategy": STRATEGY,
                "template": st.fixed_dictionaries(
                    {
                        "spec": st.fixed_dictionaries(
                            {},
                            optional={
                                "containers": unique_by("name", CONTAINERS),
                                "volumes": unique_by("name", VOLUMES),
                                "tolerations": st.lists(
                                    st.fixed_dictionaries({"key": TEXT}), max_size=2
                                ),
                            },
                        )
                    }
                ),
            },
        ),
    },
)


@settings(max_examples=300)
@given(DEPLOYMENTS, DEPLOYMENTS)
def test_two_way_patches_round_trip(original: dict[str, Any], modified: dict[str, Any]) -> None:
    patch = strategic_diff.create_two_way(original, modified, DEPLOYMENT)
    assert json_equal(strategic.apply(original, patch, DEPLOYMENT), modified)
    assert strategic_diff.create_two_way(modified, copy.deepcopy(modified), DEPLOYMENT) == {}


JSON_SCALARS = st.booleans() | st.integers(-3, 3) | st.text(max_size=3)
PLAIN_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=10,
)
PATCH_VALUES = st.recursive(
    JSON_SCALARS | st.none(),
    lambda inner: st.lists(PLAIN_VALUES, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(NAMES, PLAIN_VALUES | st.none()), st.dictionaries(NAMES, PATCH_VALUES))
def test_without_a_schema_it_is_a_json_merge_patch(doc: Any, patch: Any) -> None:
    assert json_equal(strategic.apply(doc, patch, None), mergepatch.apply(doc, patch))


def test_pod_lists_merge_by_their_own_keys() -> None:
    pod = {
        "metadata": {"ownerReferences": [{"uid": "1", "kind": "ReplicaSet", "name": "rs"}]},
        "spec": {
            "imagePullSecrets": [{"name": "a"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["a"]}],
            "initContainers": [{"name": "init", "image": "i:1"}],
        },
    }
    patch = {
        "metadata": {"ownerReferences": [{"uid": "1", "controller": True}]},
        "spec": {
            "imagePullSecrets": [{"name": "b"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}],
            "initContainers": [{"name": "init", "image": "i:2"}],
        },
    }
    assert strategic.apply(pod, patch, POD) == {
        "metadata": {
            "ownerReferences": [
                {"uid": "1", "kind": "ReplicaSet", "name": "rs", "controller": True}
            ]
        },
        "spec": {
            "imagePullSecrets": [{"name": "b"}, {"name": "a"}],
            "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["b"]}],
            "initContainers": [{"name": "init", "image": "i:2"}],
        },
    }


FUZZ_KEYS = st.sampled_from(
    [
        "metadata",
        "spec",
        "template",
        "containers",
        "name",
        "env",
        "finalizers",
        "volumes",
        "strategy",
        "$patch",
        "$retainKeys",
        "$setElementOrder/containers",
        "$setElementOrder/finalizers",
        "$deleteFromPrimitiveList/finalizers",
        "$setElementOrderx",
    ]
)
FUZZ_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1, 2) | st.sampled_from(["replace", "delete", "a"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(FUZZ_KEYS, inner, max_size=4),
    max_leaves=20,
)


@given(DEPLOYMENTS, st.dictionaries(FUZZ_KEYS, FUZZ_VALUES, max_size=4))
def test_arbitrary_patches_only_ever_fail_with_api_errors(
    original: dict[str, Any], patch: dict[str, Any]
) -> None:
    original_before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    for schema in (DEPLOYMENT, None):
        try:
            strategic.apply(original, patch, schema)
        except ApiError as err:
            assert err.code in (400, 422, 500)
    assert original == original_before and patch == patch_before
