"""Tests for pilothouse.apiserver.apply.typed: the fields an object sets under built-in, CRD
and unknown schemas, list types read from a schema, and named fields as members."""

from __future__ import annotations

from typing import Any

from pilothouse.apiserver import schemas
from pilothouse.apiserver.apply.fieldpath import FieldSet, PathElement
from pilothouse.apiserver.apply.typed import (
    TypeView,
    ensure_named_fields_are_members,
    fields_of,
)

F, K, V = PathElement.field, PathElement.key, PathElement.value


# -- fields of an object ----------------------------------------------------------------------


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "nginx", "args": ["-x"], "ports": [{"containerPort": 80}]}
                    ],
                    "volumes": [],
                }
            },
        },
    }


def test_fields_of_a_deployment() -> None:
    dep = schemas.builtin_schema("apps/v1", "Deployment")
    c = (F("spec"), F("template"), F("spec"), F("containers"), K({"name": "nginx"}))
    port = K({"containerPort": 80, "protocol": "TCP"})  # protocol defaults to TCP
    expected = FieldSet.from_paths(
        [
            (F("apiVersion"),),
            (F("kind"),),
            (F("metadata"), F("name")),
            (F("metadata"), F("labels"), F("app")),  # map keys are members
            (F("metadata"), F("finalizers"), V("a")),  # set lists: one member per value
            (F("metadata"), F("finalizers"), V("b")),
            (F("spec"), F("replicas")),
            (F("spec"), F("selector")),  # atomic map: one member
            c,  # map-list items are members themselves
            (*c, F("name")),
            (*c, F("args")),  # atomic list
            (*c, F("ports"), port),
            (*c, F("ports"), port, F("containerPort")),
        ]
    )
    # The empty volumes list and struct fields themselves are not members.
    assert fields_of(_deployment(), dep) == expected


def test_duplicated_items_are_owned_as_a_whole() -> None:
    dep = schemas.builtin_schema("apps/v1", "Deployment")
    obj = {"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}}
    item = (F("spec"), F("template"), F("spec"), F("containers"), K({"name": "a"}))
    assert fields_of(obj, dep) == FieldSet.from_paths([item])


def test_crd_list_map_and_unknown_fields() -> None:
    crd = schemas.crd_schema(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "rules": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["host", "port"],
                            "items": {
                                "type": "object",
                                "properties": {
                                    "host": {"type": "string"},
                                    "port": {"type": "integer", "default": 443},
                                },
                            },
                        },
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                }
            },
        }
    )
    obj = {"spec": {"rules": [{"host": "a"}], "extra": {"x": {"y": [1, 2]}}}}
    rule = (F("spec"), F("rules"), K({"host": "a", "port": 443}))
    assert fields_of(obj, crd) == FieldSet.from_paths(
        [
            rule,
            (*rule, F("host")),
            # Unknown content is "deduced": granular maps, atomic lists.
            (F("spec"), F("extra"), F("x")),
            (F("spec"), F("extra"), F("x"), F("y")),
        ]
    )


def test_unknown_schema_is_deduced() -> None:
    obj = {"a": {"b": 1, "c": [1, 2]}, "d": None}
    assert fields_of(obj, None) == FieldSet.from_paths(
        [(F("a"),), (F("a"), F("b")), (F("a"), F("c")), (F("d"),)]
    )


def test_patch_merge_key_without_list_type_is_a_map_list() -> None:
    node = schemas.SchemaNode(
        {
            "type": "array",
            "x-kubernetes-patch-strategy": "merge",
            "x-kubernetes-patch-merge-key": "name",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        }
    )
    assert TypeView(node).list_kind() == ("map", ("name",))
    merge_only = schemas.SchemaNode({"type": "array", "x-kubernetes-patch-strategy": "merge"})
    assert TypeView(merge_only).list_kind() == ("set", ())
    assert TypeView(schemas.SchemaNode({"type": "array"})).list_kind() == ("atomic", ())


def test_ensure_named_fields_are_members() -> None:
    dep = schemas.builtin_schema("apps/v1", "Deployment")
    fs = FieldSet.from_paths([(F("metadata"), F("labels"), F("app")), (F("spec"), F("replicas"))])
    named = ensure_named_fields_are_members(fs, dep)
    assert named.has((F("metadata"),))
    assert named.has((F("metadata"), F("labels")))
    assert named.has((F("spec"),))
    # Map keys are not named fields: nothing new below labels.
    assert set(named.paths()) - set(fs.paths()) == {
        (F("metadata"),),
        (F("metadata"), F("labels")),
        (F("spec"),),
    }
