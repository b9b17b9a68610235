"""RFC 7386 JSON merge patch: the RFC's appendix, the evanphx/json-patch v4 rules
kube-apiserver inherits (null pruning, top-level errors), two-way creation and properties."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver.errors import ApiError
from pilothouse.apiserver.patch import mergepatch
from pilothouse.apiserver.patch.jsonpatch import json_equal

RFC_7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_7386_EXAMPLES)
def test_rfc7386_examples_one_level_down(target: Any, patch: Any, expected: Any) -> None:
    """Every appendix example holds below the top level, where the RFC's rules apply
    unchanged (kube-apiserver refuses some of them at the top, see below)."""
    result = mergepatch.apply({"x": target, "keep": 1}, {"x": patch})
    expected_doc = {"keep": 1} if expected is None else {"x": expected, "keep": 1}
    assert result == expected_doc


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [case for case in RFC_7386_EXAMPLES if isinstance(case[1], dict | list)],
)
def test_rfc7386_examples_at_the_top(target: Any, patch: Any, expected: Any) -> None:
    assert mergepatch.apply(target, patch) == expected


@pytest.mark.parametrize("patch", [None, "bar", 3, True])
def test_a_null_or_scalar_patch_is_a_bad_request(patch: Any) -> None:
    with pytest.raises(ApiError) as info:
        mergepatch.apply({"a": "foo"}, patch)
    assert (info.value.code, info.value.reason, info.value.message) == (
        400,
        "BadRequest",
        "Invalid JSON Patch",
    )


def test_a_null_document_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as info:
        mergepatch.apply(None, {"a": 1})
    assert info.value.message == "Invalid JSON Document"


def test_nulls_are_pruned_from_new_values_even_inside_arrays() -> None:
    patch = {"new": {"a": None, "list": [{"b": None, "c": 1}, None]}, "old": [{"d": None}]}
    result = mergepatch.apply({"old": "scalar"}, patch)
    assert result == {"new": {"list": [{"c": 1}, None]}, "old": [{}]}


def test_a_non_object_replacing_an_object_is_taken_verbatim() -> None:
    assert mergepatch.apply({"a": {"b": 1}}, {"a": [{"c": None}]}) == {"a": [{"c": None}]}


def test_a_top_level_array_patch_is_pruned() -> None:
    assert mergepatch.apply({"a": 1}, [{"b": None}, None]) == [{}, None]


def test_deployment_merge_patch_replaces_lists_whole() -> None:
    deployment = {
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1"},
                        {"name": "side", "image": "side:1"},
                    ]
                }
            },
        },
    }
    patch = {
        "metadata": {"labels": {"tier": None, "track": "canary"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app"}]}}},
    }
    assert mergepatch.apply(deployment, patch) == {
        "metadata": {"name": "web", "labels": {"app": "web", "track": "canary"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "app"}]}}},
    }


def test_inputs_are_not_mutated_and_results_share_nothing() -> None:
    doc = {"a": {"b": {"c": 1}}, "untouched": {"k": "v"}}
    patch = {"a": {"b": {"d": [1]}}, "n": {"m": {}}}
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    result = mergepatch.apply(doc, patch)
    result["untouched"]["k"] = "x"
    result["a"]["b"]["d"].append(2)
    result["n"]["m"]["z"] = 1
    assert doc == doc_before and patch == patch_before


# -- create ------------------------------------------------------------------------------


def test_create() -> None:
    original = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2], "f": "x", "g": True}
    modified = {"a": 1, "b": {"c": 2, "d": 4}, "e": [1, 2, 3], "g": 1, "h": None}
    assert mergepatch.create(original, modified) == {
        "b": {"d": 4},
        "e": [1, 2, 3],
        "f": None,
        "g": 1,
        "h": None,
    }
    assert mergepatch.create(original, copy.deepcopy(original)) == {}


def test_create_needs_objects() -> None:
    with pytest.raises(TypeError):
        mergepatch.create([], {})  # type: ignore[arg-type]


JSON_SCALARS = (
    st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
)
KEYS = st.sampled_from(["a", "b", "c", "d"])


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=10,
    )


NULL_FREE = st.dictionaries(KEYS, json_values(JSON_SCALARS), max_size=4)
WITH_NULLS = st.dictionaries(KEYS, json_values(JSON_SCALARS | st.none()), max_size=4)


@given(WITH_NULLS, NULL_FREE)
def test_applying_a_created_patch_yields_the_target(original: Any, modified: Any) -> None:
    patch = mergepatch.create(original, modified)
    assert json_equal(mergepatch.apply(original, patch), modified)


@given(WITH_NULLS, NULL_FREE)
def test_merge_patches_without_nulls_are_idempotent(doc: Any, patch: Any) -> None:
    once = mergepatch.apply(doc, patch)
    assert json_equal(mergepatch.apply(once, patch), once)


@given(WITH_NULLS, WITH_NULLS)
def test_apply_never_mutates_its_inputs(doc: Any, patch: Any) -> None:
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    mergepatch.apply(doc, patch)
    assert json_equal(doc, doc_before) and json_equal(patch, patch_before)
