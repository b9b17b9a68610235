"""Pruning of unknown fields, for custom resources and built-in kinds."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilothouse.apiserver import schemas
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural.pruning import prune

CRD = schemas.crd_schema(
    {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "items": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "config": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "properties": {
                            "known": {"type": "object", "properties": {"a": {"type": "string"}}}
                        },
                    },
                    "raw": {
                        "type": "array",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "items": {"type": "object", "properties": {"a": {"type": "string"}}},
                    },
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": True,
                        "properties": {
                            "spec": {"type": "object", "properties": {"x": {"type": "string"}}}
                        },
                    },
                    "port": {"x-kubernetes-int-or-string": True},
                    "anything": {"type": "object", "additionalProperties": True},
                },
            },
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
        },
    }
)


def test_unknown_fields_are_removed_and_reported_sorted() -> None:
    obj: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "bogus": 1, "labels": {"a": "b"}},
        "spec": {
            "replicas": 1,
            "foo": 2,
            "items": [{"name": "a", "extra": True}, {"name": "b"}],
            "labels": {"any": "key"},
        },
        "status": {"ready": True, "phase": "x"},
        "top": 1,
    }
    assert prune(obj, CRD) == [
        "metadata.bogus",
        "spec.foo",
        "spec.items[0].extra",
        "status.phase",
        "top",
    ]
    assert obj == {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": {"replicas": 1, "items": [{"name": "a"}, {"name": "b"}], "labels": {"any": "key"}},
        "status": {"ready": True},
    }


def test_preserve_unknown_fields_still_prunes_declared_properties() -> None:
    obj = {
        "spec": {
            "config": {"free": {"x": 1}, "known": {"a": "x", "b": "pruned"}},
            "raw": [{"a": "1", "kept": True}],
        }
    }
    assert prune(obj, CRD) == ["spec.config.known.b"]
    assert obj == {
        "spec": {
            "config": {"free": {"x": 1}, "known": {"a": "x"}},
            "raw": [{"a": "1", "kept": True}],
        }
    }


def test_embedded_resources_keep_type_meta_and_prune_object_meta() -> None:
    obj = {
        "spec": {
            "template": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "nope": 1},
                "spec": {"x": "1", "y": "2"},
                "status": {},
            }
        }
    }
    assert prune(obj, CRD) == [
        "spec.template.metadata.nope",
        "spec.template.spec.y",
        "spec.template.status",
    ]
    assert obj["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"x": "1"},
    }


def test_scalars_untouched_and_unknown_typed_maps_emptied() -> None:
    obj = {"spec": {"port": {"a": 1}, "anything": {"k": {"nested": 1}, "s": "v"}}}
    assert prune(obj, CRD) == ["spec.anything.k.nested", "spec.port.a"]
    assert obj == {"spec": {"port": {}, "anything": {"k": {}, "s": "v"}}}


def test_undeclared_type_meta_at_the_root_is_dropped_silently() -> None:
    node = SchemaNode({"type": "object", "properties": {"spec": {"type": "object"}}})
    obj = {"apiVersion": "v1", "kind": "X", "spec": {"a": 1}}
    assert prune(obj, node, is_root=False) == ["spec.a"]
    assert obj == {"spec": {}}


def test_preserve_unknown_at_the_root() -> None:
    node = schemas.crd_schema({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    obj = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a", "zz": 1}, "spec": {"a": 1}}
    assert prune(obj, node) == ["metadata.zz"]
    assert obj["spec"] == {"a": 1}


def test_builtin_kinds_drop_unknown_fields_like_the_decoder() -> None:
    deployment = schemas.builtin_schema("apps/v1", "Deployment")
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"a": "b"}, "bogus": True},
        "spec": {
            "replicas": 1,
            "strategy": {"rollingUpdate": {"maxSurge": "25%"}, "bad": 1},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolcy": "x"}]},
            },
        },
        "extra": 1,
    }
    assert prune(obj, deployment) == [
        "extra",
        "metadata.bogus",
        "spec.strategy.bad",
        "spec.template.spec.containers[0].imagePullPolcy",
    ]
    assert obj["spec"]["template"]["spec"]["containers"] == [{"name": "c", "image": "i"}]


def test_builtin_free_form_values_are_kept() -> None:
    revision = schemas.builtin_schema("apps/v1", "ControllerRevision")
    obj = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "revision": 1,
        "data": {"any": {"x": 1}},
    }
    assert prune(obj, revision) == []
    assert obj["data"] == {"any": {"x": 1}}
    meta = {"managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}]}
    assert prune({"metadata": meta}, revision) == []


def test_no_schema_keeps_nothing_but_type_meta() -> None:
    obj = {"apiVersion": "v1", "kind": "X", "spec": {"a": 1}}
    assert prune(obj, None) == ["spec"]
    assert obj == {"apiVersion": "v1", "kind": "X"}


KEYS = st.sampled_from(
    ["spec", "status", "replicas", "items", "name", "labels", "config", "x", "metadata"]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
DEPLOYMENT = schemas.builtin_schema("apps/v1", "Deployment")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON)
def test_pruning_is_idempotent_and_never_raises(value: Any) -> None:
    for node in (CRD, DEPLOYMENT):
        for obj in (copy.deepcopy(value), {"spec": copy.deepcopy(value)}):
            first = prune(obj, node)
            assert first == sorted(first)
            once = copy.deepcopy(obj)
            assert prune(obj, node) == []
            assert obj == once
