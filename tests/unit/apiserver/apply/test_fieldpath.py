"""Tests for pilothouse.apiserver.apply.fieldpath: path elements, field-set algebra and the
fieldsV1 wire format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver.apply.fieldpath import (
    FieldSet,
    PathElement,
    path_string,
    values_equal,
)

F, K, V, Ix = PathElement.field, PathElement.key, PathElement.value, PathElement.index

# -- strategies ----------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-1000, 1000),
    st.text(max_size=6),
    st.booleans(),
    st.none(),
)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=6)
elements = st.one_of(
    names.map(F),
    st.dictionaries(names, scalars.filter(lambda v: v is not None), min_size=1, max_size=2).map(K),
    scalars.map(V),
    st.integers(0, 50).map(Ix),
)
paths = st.lists(elements, min_size=1, max_size=4).map(tuple)
field_sets = st.lists(paths, max_size=12).map(FieldSet.from_paths)


# -- path elements --------------------------------------------------------------------------


def test_serialize_elements_like_the_real_server() -> None:
    assert F("replicas").serialize() == "f:replicas"
    assert K({"protocol": "TCP", "containerPort": 80}).serialize() == (
        'k:{"containerPort":80,"protocol":"TCP"}'
    )
    assert V("a<b").serialize() == 'v:"a\\u003cb"'
    assert V(1.0).serialize() == "v:1"
    assert Ix(3).serialize() == "i:3"


@given(elements)
def test_element_serialization_round_trips(pe: PathElement) -> None:
    assert PathElement.parse(pe.serialize()) == pe


def test_values_keep_bools_apart_from_numbers() -> None:
    assert V(1) == V(1.0)
    assert V(1) != V(True)
    assert values_equal({"a": [1, "x"]}, {"a": [1.0, "x"]})
    assert not values_equal([True], [1])


def test_element_order_matches_structured_merge_diff() -> None:
    ordered = [F("a"), F("b"), K({"name": "a"}), V(2), V("a"), V(False), V(None), Ix(0)]
    assert sorted(reversed(ordered)) == ordered


@pytest.mark.parametrize("text", ["x", "q:1", "k:[1]", "v:{", "i:z"])
def test_malformed_elements_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        PathElement.parse(text)


def test_path_string() -> None:
    path = (F("spec"), F("containers"), K({"name": "nginx"}), F("ports"), V(80))
    assert path_string(path) == '.spec.containers[name="nginx"].ports[=80]'


# -- wire format --------------------------------------------------------------------------------


def test_fields_v1_writes_dot_for_members_with_children() -> None:
    fs = FieldSet.from_paths(
        [
            (F("spec"), F("replicas")),
            (F("spec"), F("containers"), K({"name": "a"})),
            (F("spec"), F("containers"), K({"name": "a"}), F("image")),
        ]
    )
    assert fs.to_fields_v1() == {
        "f:spec": {
            "f:containers": {'k:{"name":"a"}': {".": {}, "f:image": {}}},
            "f:replicas": {},
        }
    }
    # Keys come out in element order, which is what the real server writes.
    assert list(fs.to_fields_v1()["f:spec"]) == ["f:containers", "f:replicas"]


@given(field_sets)
def test_fields_v1_round_trips_through_json(fs: FieldSet) -> None:
    wire = json.loads(json.dumps(fs.to_fields_v1()))
    assert FieldSet.from_fields_v1(wire) == fs


@pytest.mark.parametrize("bad", [{"f:a": 1}, {"x": {}}, {"f:a": {"k:oops": {}}}])
def test_from_fields_v1_rejects_garbage(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1(bad)


# -- algebra --------------------------------------------------------------------------------------


@given(field_sets, field_sets)
def test_algebra_matches_sets_of_paths(a: FieldSet, b: FieldSet) -> None:
    pa, pb = set(a.paths()), set(b.paths())
    assert set(a.union(b).paths()) == pa | pb
    assert set(a.intersection(b).paths()) == pa & pb
    assert set(a.difference(b).paths()) == pa - pb
    assert len(a) == len(pa)
    assert all(a.has(p) for p in pa)


@given(field_sets, field_sets)
def test_recursive_difference_drops_subtrees(a: FieldSet, b: FieldSet) -> None:
    pb = set(b.paths())
    expected = {p for p in a.paths() if not any(p[:n] in pb for n in range(1, len(p) + 1))}
    assert set(a.recursive_difference(b).paths()) == expected


def test_difference_is_not_recursive() -> None:
    a = FieldSet.from_paths([(F("a"), F("b"))])
    b = FieldSet.from_paths([(F("a"),)])
    assert a.difference(b) == a
    assert a.recursive_difference(b).empty
