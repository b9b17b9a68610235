"""pydantic → structural schema: each rule of pilothouse.crd.schema on a small model."""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from pilothouse import crd
from pilothouse.apiserver.structural.crd_schema_check import check_structural


def field_schema(annotation: Any, default: Any = ..., **field: Any) -> dict[str, Any]:
    """The converted schema of one field ``v`` of the given type."""
    model = type(
        "M",
        (BaseModel,),
        {"__annotations__": {"v": annotation}, "v": Field(default, **field)},
    )
    out = crd.structural_schema(model)
    return out["properties"]["v"]  # type: ignore[no-any-return]


class Color(enum.Enum):
    """A color."""

    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Inner(BaseModel):
    """Inner docs."""

    a: int = 1
    b: str | None = None


def test_scalars() -> None:
    assert field_schema(int) == {"type": "integer"}
    assert field_schema(str) == {"type": "string"}
    assert field_schema(float) == {"type": "number"}
    assert field_schema(bool) == {"type": "boolean"}


def test_descriptions_and_defaults() -> None:
    assert field_schema(int, 3, description="How many.") == {
        "description": "How many.",
        "type": "integer",
        "default": 3,
    }


def test_title_and_examples_are_stripped() -> None:
    assert field_schema(int, 1, title="T", examples=[1, 2]) == {"type": "integer", "default": 1}


def test_optional_fields_are_nullable_only_where_none_is_sent_as_null() -> None:
    assert field_schema(int | None, None) == {"type": "integer"}  # no null default either
    assert field_schema(list[int | None]) == {
        "type": "array",
        "items": {"type": "integer", "nullable": True},
    }
    assert field_schema(dict[str, int | None]) == {
        "type": "object",
        "additionalProperties": {"type": "integer", "nullable": True},
    }
    assert field_schema(int | None) == {"type": "integer", "nullable": True}  # required
    assert field_schema(int | None, 5) == {"type": "integer", "default": 5, "nullable": True}
    assert field_schema(int, 1, json_schema_extra={"nullable": True})["nullable"] is True
    with pytest.raises(crd.SchemaError, match="kube cannot store null"):
        field_schema(Literal["a", "b"] | None)
    assert field_schema(Literal["a", "b"] | None, None) == {"type": "string", "enum": ["a", "b"]}


def test_refs_are_inlined_with_the_field_winning() -> None:
    s = field_schema(Inner, description="Field docs.")
    assert s == {
        "description": "Field docs.",
        "type": "object",
        "properties": {
            "a": {"type": "integer", "default": 1},
            "b": {"type": "string"},
        },
    }
    assert field_schema(Inner)["description"] == "Inner docs."
    assert field_schema(Inner | None, None)["properties"]["a"]["default"] == 1


def test_model_defaults_drop_none_members() -> None:
    assert field_schema(Inner, Inner(a=2))["default"] == {"a": 2}


def test_enums_from_literal_and_enum() -> None:
    assert field_schema(Literal["a", "b"]) == {"type": "string", "enum": ["a", "b"]}
    assert field_schema(Literal["a"]) == {"type": "string", "enum": ["a"]}  # const
    assert field_schema(Color, Color.RED) == {
        "description": "A color.",
        "type": "string",
        "enum": ["red", "blue"],
        "default": "red",
    }
    assert field_schema(Level) == {"type": "integer", "enum": [1, 2]}
    assert field_schema(Literal["a"] | Literal["b"] | None, None) == {
        "type": "string",
        "enum": ["a", "b"],
    }
    assert field_schema(Literal["x", None], None) == {"type": "string", "enum": ["x"]}


def test_numeric_bounds_use_openapi_v3_booleans() -> None:
    assert field_schema(Annotated[int, Field(ge=0, le=10)]) == {
        "type": "integer",
        "minimum": 0,
        "maximum": 10,
    }
    assert field_schema(Annotated[float, Field(gt=0, lt=1, multiple_of=0.25)]) == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 1,
        "exclusiveMaximum": True,
        "multipleOf": 0.25,
    }


def test_string_and_collection_constraints() -> None:
    assert field_schema(Annotated[str, Field(min_length=1, max_length=5, pattern="^a+$")]) == {
        "type": "string",
        "minLength": 1,
        "maxLength": 5,
        "pattern": "^a+$",
    }
    assert field_schema(Annotated[list[int], Field(min_length=1, max_length=3)]) == {
        "type": "array",
        "minItems": 1,
        "maxItems": 3,
        "items": {"type": "integer"},
    }
    assert field_schema(Annotated[dict[str, int], Field(max_length=4)]) == {
        "type": "object",
        "maxProperties": 4,
        "additionalProperties": {"type": "integer"},
    }


def test_non_re2_patterns_are_rejected() -> None:
    class M(BaseModel):
        model_config = ConfigDict(regex_engine="python-re")
        v: Annotated[str, Field(pattern=r"^(?!x)")]

    with pytest.raises(crd.SchemaError, match=r"M: \.v: .*not RE2"):
        crd.structural_schema(M)


def test_formats_kube_knows_are_kept_others_dropped() -> None:
    assert field_schema(datetime.datetime)["format"] == "date-time"
    assert field_schema(datetime.date)["format"] == "date"
    assert field_schema(uuid.UUID)["format"] == "uuid"
    assert field_schema(datetime.timedelta) == {"type": "string"}  # ISO 8601 vs Go durations
    assert field_schema(datetime.time) == {"type": "string"}
    assert field_schema(bytes) == {"type": "string"}


def test_sets_become_list_type_set() -> None:
    assert field_schema(set[str]) == {
        "type": "array",
        "items": {"type": "string"},
        "x-kubernetes-list-type": "set",
    }
    assert "uniqueItems" not in str(field_schema(frozenset[int]))


def test_dicts_and_any() -> None:
    assert field_schema(dict[str, Inner])["additionalProperties"]["type"] == "object"
    free = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert field_schema(dict[str, Any]) == free
    assert field_schema(crd.PreserveUnknownFields) == free
    assert field_schema(Any, None) == {"x-kubernetes-preserve-unknown-fields": True}
    assert field_schema(list[Any])["items"] == {"x-kubernetes-preserve-unknown-fields": True}


def test_extra_allow_preserves_unknown_fields_extra_forbid_is_dropped() -> None:
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        a: int

    class Closed(BaseModel):
        model_config = ConfigDict(extra="forbid")
        a: int

    assert field_schema(Open)["x-kubernetes-preserve-unknown-fields"] is True
    assert "additionalProperties" not in field_schema(Closed)


def test_int_or_string() -> None:
    ios = {"x-kubernetes-int-or-string": True}
    assert field_schema(crd.IntOrString) == ios
    assert field_schema(int | str) == ios  # recognised without the marker too
    assert field_schema(crd.IntOrString | None, None) == ios
    with pytest.raises(crd.SchemaError, match="int-or-string"):
        field_schema(Annotated[int, Field(ge=0)] | str)


def test_int_or_float_is_a_number() -> None:
    assert field_schema(int | float) == {"type": "number"}


def test_embedded_resource() -> None:
    assert field_schema(crd.EmbeddedResource) == {
        "type": "object",
        "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True,
    }

    class Template(BaseModel):
        apiVersion: str
        kind: str
        metadata: crd.ObjectMeta | None = None

    s = field_schema(Annotated[Template, crd.embedded_resource])
    assert s["x-kubernetes-embedded-resource"] is True
    assert s["properties"]["metadata"]["type"] == "object"


def test_list_and_map_type_markers() -> None:
    class Port(BaseModel):
        name: str
        port: int

    s = field_schema(Annotated[list[Port], crd.list_type("map", keys=["name"])])
    assert s["x-kubernetes-list-type"] == "map"
    assert s["x-kubernetes-list-map-keys"] == ["name"]
    assert field_schema(Annotated[dict[str, str], crd.map_type("atomic")]) == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "x-kubernetes-map-type": "atomic",
    }
    atomic_items = field_schema(Annotated[list[Port], crd.list_type("set")])["items"]
    assert atomic_items["x-kubernetes-map-type"] == "atomic"  # kube requires atomic set items


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("missing", "list map key 'missing' is not a field"),
        ("nested", "must be a scalar"),
        ("optional", "must be required or have a default"),
        ("nullable", "must be a scalar that cannot be None"),
        ("loose", "must be required or have a default"),
    ],
)
def test_list_map_keys_are_checked(item: str, message: str) -> None:
    class Item(BaseModel):
        nested: Inner
        optional: str | None = None
        nullable: str = Field("", json_schema_extra={"nullable": True})
        loose: str = Field(default_factory=str)

    with pytest.raises(crd.SchemaError, match=message):
        field_schema(Annotated[list[Item], crd.list_type("map", keys=[item])])


def test_cel_rules_on_fields_and_models_accumulate() -> None:
    @crd.validations("self.a > 0", message="a must be positive", reason="FieldValueInvalid")
    class Ruled(BaseModel):
        a: int

    s = field_schema(Annotated[Ruled, crd.validations("self.a < 10", field_path=".a")])
    assert s["x-kubernetes-validations"] == [
        {"rule": "self.a > 0", "message": "a must be positive", "reason": "FieldValueInvalid"},
        {"rule": "self.a < 10", "fieldPath": ".a"},
    ]
    # The plain pydantic schema shows the model's rule too.
    assert Ruled.model_json_schema()["x-kubernetes-validations"][0]["rule"] == "self.a > 0"


def test_field_json_schema_extra_passes_kubernetes_extensions() -> None:
    s = field_schema(dict[str, Any], json_schema_extra={"x-kubernetes-map-type": "atomic"})
    assert s["x-kubernetes-map-type"] == "atomic"
    with pytest.raises(crd.SchemaError, match="unknown Kubernetes extension"):
        field_schema(int, json_schema_extra={"x-kubernetes-typo": True})


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (int | list[int], "the union integer | array has no structural schema"),
        (Inner | Color, "the union Inner | Color has no structural schema"),
        (tuple[int, str], "tuple"),
        (None, "can only be None"),
        (set[str | None], "items of a list of type set cannot be None"),
        (Literal[1, "a"], "not all of one type"),
        (list[Literal["a"] | None], "kube cannot store null for a field with enumerated"),
    ],
)
def test_non_structural_types_name_the_field(annotation: Any, message: str) -> None:
    model = type(
        "Holder",
        (BaseModel,),
        {"__annotations__": {"deep": list[dict[str, annotation]]}},
    )
    with pytest.raises(crd.SchemaError, match=message) as info:
        crd.structural_schema(model)
    assert info.value.path.startswith(".deep[*][*]")
    assert str(info.value).startswith(f"Holder: {info.value.path}: ")


def test_recursive_models_are_rejected() -> None:
    class Node(BaseModel):
        children: list[Node] = []

    class Tree(BaseModel):
        root: Node

    with pytest.raises(crd.SchemaError, match=r"\.root\.children\[\*\]: Node contains itself"):
        crd.structural_schema(Tree)


def test_a_model_used_twice_is_inlined_twice() -> None:
    class Pair(BaseModel):
        left: Inner
        right: Inner | None = None

    s = crd.structural_schema(Pair)
    assert s["properties"]["left"]["properties"] == s["properties"]["right"]["properties"]
    assert "$ref" not in str(s) and "$defs" not in str(s)


def test_the_root_of_a_resource() -> None:
    class Spec(crd.Model):
        size: int = 1

    @crd.validations("self.metadata.name.size() <= 20", message="name too long")
    class Thing(crd.CustomResource, group="example.com", version="v1", kind="Thing"):
        """A thing."""

        spec: Spec
        status: dict[str, str] | None = None

    s = crd.openapi_schema(Thing)
    assert s["description"] == "A thing."
    assert s["type"] == "object" and s["required"] == ["spec"]
    assert list(s["properties"]) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert s["properties"]["metadata"] == {"type": "object"}
    assert s["properties"]["apiVersion"]["type"] == "string"
    assert "default" not in s["properties"]["kind"]
    assert s["x-kubernetes-validations"] == [
        {"rule": "self.metadata.name.size() <= 20", "message": "name too long"}
    ]
    assert check_structural(s) == []


def test_an_undocumented_resource_has_no_description() -> None:
    class Bare(crd.CustomResource, group="example.com", version="v1", kind="Bare"):
        spec: dict[str, str] = {}

    assert "description" not in crd.openapi_schema(Bare)
