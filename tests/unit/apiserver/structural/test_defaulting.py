"""CRD defaulting, as the server applies it on write and on read."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilothouse.apiserver import schemas
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.defaulting import apply_defaults

RAW = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "default": {},
            "properties": {
                "replicas": {"type": "integer", "default": 1},
                "strategy": {
                    "type": "object",
                    "default": {"type": "Rolling"},
                    "properties": {
                        "type": {"type": "string"},
                        "maxSurge": {"type": "integer", "default": 25},
                    },
                },
                "ports": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "default": {"name": "http"},
                        "properties": {
                            "name": {"type": "string"},
                            "protocol": {"type": "string", "default": "TCP"},
                        },
                    },
                },
                "limits": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "default": {"value": "1"},
                        "properties": {
                            "value": {"type": "string"},
                            "unit": {"type": "string", "default": "m"},
                        },
                    },
                },
                "note": {"type": "string", "nullable": True, "default": "n"},
                "comment": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}, "default": ["a"]},
            },
        }
    },
}
SCHEMA = schemas.crd_schema(RAW)


def test_defaults_apply_recursively_including_inside_new_defaults() -> None:
    obj: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "w"}}
    assert apply_defaults(obj, SCHEMA) is obj
    assert obj["spec"] == {
        "replicas": 1,
        "strategy": {"type": "Rolling", "maxSurge": 25},
        "note": "n",
        "tags": ["a"],
    }
    assert obj["metadata"] == {"name": "w"}


def test_items_and_map_values() -> None:
    obj = {"spec": {"ports": [{"name": "a"}, None], "limits": {"cpu": {"value": "2"}, "mem": None}}}
    apply_defaults(obj, SCHEMA)
    assert obj["spec"]["ports"] == [
        {"name": "a", "protocol": "TCP"},
        {"name": "http", "protocol": "TCP"},
    ]
    assert obj["spec"]["limits"] == {
        "cpu": {"value": "2", "unit": "m"},
        "mem": {"value": "1", "unit": "m"},
    }


def test_nulls() -> None:
    obj = {"spec": {"replicas": None, "note": None, "comment": None}}
    apply_defaults(obj, SCHEMA)
    # Non-nullable null with a default: defaulted. Nullable: kept. Neither: removed.
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["note"] is None
    assert "comment" not in obj["spec"]


def test_explicit_values_win() -> None:
    obj = {"spec": {"replicas": 0, "strategy": {"type": "Recreate", "maxSurge": 1}, "tags": []}}
    apply_defaults(obj, SCHEMA)
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["strategy"] == {"type": "Recreate", "maxSurge": 1}
    assert obj["spec"]["tags"] == []


def test_defaults_are_deep_copies() -> None:
    first = apply_defaults({}, SCHEMA)
    first["spec"]["tags"].append("mutated")
    first["spec"]["strategy"]["type"] = "changed"
    second = apply_defaults({}, SCHEMA)
    assert second["spec"]["tags"] == ["a"]
    assert second["spec"]["strategy"]["type"] == "Rolling"
    assert RAW["properties"]["spec"]["properties"]["tags"]["default"] == ["a"]  # type: ignore[index]


def test_junctors_and_missing_schema_are_ignored() -> None:
    node = SchemaNode({"type": "object", "allOf": [{"properties": {"a": {"default": 1}}}]})
    assert apply_defaults({}, node) == {}
    assert apply_defaults({"x": None}, None) == {"x": None}
    assert apply_defaults("scalar", SCHEMA) == "scalar"


KEYS = st.sampled_from(
    ["spec", "replicas", "strategy", "ports", "limits", "note", "comment", "tags", "name", "x"]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON)
def test_defaulting_is_idempotent_and_never_raises(value: Any) -> None:
    for obj in (copy.deepcopy(value), {"spec": copy.deepcopy(value)}):
        once = copy.deepcopy(apply_defaults(obj, SCHEMA))
        assert apply_defaults(obj, SCHEMA) == once
