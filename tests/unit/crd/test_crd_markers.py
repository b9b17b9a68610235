"""Markers: argument checks, hashability, and the class-decorator form."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict

from pilothouse import crd


def test_validations_build_kube_rules() -> None:
    extra = crd.validations(
        "self.x == oldSelf.x",
        message="x is immutable",
        message_expression="'x was ' + oldSelf.x",
        reason="FieldValueForbidden",
        field_path=".x",
        optional_old_self=True,
    )
    assert extra.values == {
        "x-kubernetes-validations": [
            {
                "rule": "self.x == oldSelf.x",
                "message": "x is immutable",
                "messageExpression": "'x was ' + oldSelf.x",
                "reason": "FieldValueForbidden",
                "fieldPath": ".x",
                "optionalOldSelf": True,
            }
        ]
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": " "}, "must not be empty"),
        ({"rule": "true", "message": "two\nlines"}, "one line"),
        ({"rule": "true", "reason": "Nope"}, "reason"),
        ({"rule": "true", "field_path": "x"}, "field_path"),
    ],
)
def test_validations_reject_what_kube_rejects(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(crd.CRDError, match=message):
        crd.validations(**kwargs)


def test_list_and_map_type_arguments() -> None:
    assert crd.list_type("map", keys="name").values == {
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
    }
    with pytest.raises(crd.CRDError, match="needs keys"):
        crd.list_type("map")
    with pytest.raises(crd.CRDError, match="only it takes keys"):
        crd.list_type("set", keys=["a"])
    with pytest.raises(crd.CRDError, match="list type"):
        crd.list_type("bag")  # type: ignore[arg-type]
    with pytest.raises(crd.CRDError, match="map type"):
        crd.map_type("partial")  # type: ignore[arg-type]


def test_markers_are_hashable_and_compare_by_value() -> None:
    assert crd.validations("true") == crd.validations("true")
    assert len({crd.validations("true"), crd.validations("true"), crd.map_type("atomic")}) == 2
    hash(Annotated[int, crd.validations("self > 0")])


def test_values_are_a_copy() -> None:
    extra = crd.list_type("map", keys=["a"])
    extra.values["x-kubernetes-list-map-keys"].append("b")
    assert extra.values["x-kubernetes-list-map-keys"] == ["a"]


def test_decorator_keeps_an_existing_json_schema_extra() -> None:
    @crd.validations("self.b", message="second")
    @crd.validations("self.a", message="first")
    class Dict(BaseModel):
        model_config = ConfigDict(json_schema_extra={"x-kubernetes-map-type": "atomic"})
        a: bool
        b: bool

    def add(schema: dict[str, Any], model: type[Any]) -> None:
        schema["x-kubernetes-preserve-unknown-fields"] = True

    @crd.validations("true")
    class Call(BaseModel):
        model_config = ConfigDict(json_schema_extra=add)

    s = crd.structural_schema(Dict)
    assert s["x-kubernetes-map-type"] == "atomic"
    assert [r["message"] for r in s["x-kubernetes-validations"]] == ["first", "second"]
    s = crd.structural_schema(Call)
    assert s["x-kubernetes-preserve-unknown-fields"] is True
    assert s["x-kubernetes-validations"] == [{"rule": "true"}]


def test_decorator_is_for_models_only() -> None:
    with pytest.raises(TypeError, match="decorates pydantic models"):
        crd.validations("true")(int)  # type: ignore[type-var]


def test_preserve_unknown_fields_on_a_model_keeps_its_fields() -> None:
    @crd.preserve_unknown_fields
    class Loose(BaseModel):
        a: int = 0

    assert crd.structural_schema(Loose) == {
        "type": "object",
        "properties": {"a": {"type": "integer", "default": 0}},
        "x-kubernetes-preserve-unknown-fields": True,
    }
