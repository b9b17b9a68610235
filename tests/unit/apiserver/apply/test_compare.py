"""Tests for pilothouse.apiserver.apply.compare: fields added, modified and removed between
two objects."""

from __future__ import annotations

from typing import Any

from pilothouse.apiserver import schemas
from pilothouse.apiserver.apply.compare import compare
from pilothouse.apiserver.apply.fieldpath import PathElement

F, K = PathElement.field, PathElement.key


# -- comparison --------------------------------------------------------------------------------


def test_compare_reports_new_containers_as_added() -> None:
    dep = schemas.builtin_schema("apps/v1", "Deployment")
    old: dict[str, Any] = {"spec": {"replicas": 1, "paused": True}}
    new = {
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}},
        }
    }
    c = compare(old, new, dep)
    item = (F("spec"), F("template"), F("spec"), F("containers"), K({"name": "a"}))
    assert set(c.modified.paths()) == {(F("spec"), F("replicas"))}
    assert set(c.removed.paths()) == {(F("spec"), F("paused"))}
    assert (*item, F("image")) in set(c.added.paths())
    assert item in set(c.added.paths())
    assert (F("spec"), F("template")) in set(c.added.paths())


def test_compare_keeps_null_and_empty_apart() -> None:
    c = compare({"a": None}, {"a": {}}, None)
    assert set(c.modified.paths()) == {(F("a"),)}
    assert compare({"a": [1, 2]}, {"a": [1, 2.0]}, None).modified.empty
