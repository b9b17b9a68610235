"""OpenAPI validation of custom resources, with the real server's wording."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilothouse.apiserver import schemas
from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural import validate as v

# A trimmed CronTab/Widget-style CRD as found in the wild (kubebuilder output shape).
WIDGET = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "replicas": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 10},
                "image": {"type": "string", "minLength": 1, "maxLength": 12, "pattern": "^[a-z]+$"},
                "mode": {"type": "string", "enum": ["Fast", "Slow"]},
                "ratio": {
                    "type": "number",
                    "multipleOf": 0.5,
                    "exclusiveMaximum": True,
                    "maximum": 2,
                },
                "port": {
                    "x-kubernetes-int-or-string": True,
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                },
                "schedule": {"type": "string", "format": "date-time"},
                "tags": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                    "minItems": 1,
                    "maxItems": 3,
                },
                "ports": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name", "protocol"],
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "protocol": {"type": "string", "default": "TCP"},
                            "port": {"type": "integer"},
                        },
                    },
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "limits": {"type": "object", "minProperties": 1, "maxProperties": 2},
                "note": {"type": "string", "nullable": True},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
            },
        },
    },
}
SCHEMA = schemas.crd_schema(WIDGET)


def run(spec: dict[str, Any]) -> list[str]:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    obj["spec"] = {"image": "nginx", **spec}
    return [c.describe() for c in v.validate(obj, SCHEMA)]


def test_valid_object_has_no_causes() -> None:
    spec = {
        "replicas": 3,
        "mode": "Fast",
        "ratio": 1.5,
        "port": "http",
        "schedule": "2024-01-02T03:04:05Z",
        "tags": ["a", "b"],
        "ports": [{"name": "http"}, {"name": "http", "protocol": "UDP"}],
        "labels": {"app": "x"},
        "limits": {"cpu": 1},
        "note": None,
        "extra": {"anything": [1, {"goes": True}]},
        "template": {"apiVersion": "v1", "kind": "Pod", "spec": {}},
    }
    assert run(spec) == []


def test_type_error_wording() -> None:
    assert run({"replicas": "3"}) == [
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
        'integer: "string"'
    ]
    cause = v.validate({"spec": {"image": "a", "replicas": "3"}}, SCHEMA)[0]
    assert cause == Cause(
        "FieldValueTypeInvalid",
        'Invalid value: "string": spec.replicas in body must be of type integer: "string"',
        "spec.replicas",
    )


def test_integral_float_is_an_integer_but_others_are_not() -> None:
    assert run({"replicas": 2.0}) == []
    assert run({"replicas": 2.5}) == [
        'spec.replicas: Invalid value: "number": spec.replicas in body must be of type '
        'integer: "number"'
    ]


def test_required_and_root_type() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {}}
    assert [c.describe() for c in v.validate(obj, SCHEMA)] == ["spec.image: Required value"]
    assert v.validate({"spec": {}}, SCHEMA)[0].reason == "FieldValueRequired"


def test_enum_wording() -> None:
    assert run({"mode": "Medium"}) == [
        'spec.mode: Unsupported value: "Medium": supported values: "Fast", "Slow"'
    ]


def test_null_never_matches_an_enum_and_needs_nullable() -> None:
    assert run({"mode": None}) == [
        'spec.mode: Invalid value: "null": spec.mode in body must be of type string: "null"',
        'spec.mode: Unsupported value: "null": supported values: "Fast", "Slow"',
    ]
    assert run({"note": None}) == []


def test_non_string_enum_values_are_json() -> None:
    node = SchemaNode({"type": "integer", "enum": [1, 2.5, True]})
    assert [c.message for c in v.validate(3, node, "spec.x")] == [
        'Unsupported value: 3: supported values: "1", "2.5", "true"'
    ]
    assert v.validate(1, node, "spec.x") == []


def test_string_bounds_and_pattern() -> None:
    assert run({"image": "abcdefghijklmn"}) == [
        "spec.image: Too long: may not be more than 12 bytes"
    ]
    assert run({"image": ""}) == [
        'spec.image: Invalid value: "": spec.image in body should be at least 1 chars long',
        "spec.image: Invalid value: \"\": spec.image in body should match '^[a-z]+$'",
    ]
    assert run({"image": "NGINX"}) == [
        "spec.image: Invalid value: \"NGINX\": spec.image in body should match '^[a-z]+$'"
    ]


def test_lengths_count_runes() -> None:
    node = SchemaNode({"type": "string", "maxLength": 2})
    assert v.validate("éé", node, "s") == []


def test_invalid_pattern_is_reported_with_go_wording() -> None:
    node = SchemaNode({"type": "string", "pattern": "("})
    assert [c.message for c in v.validate("x", node, "spec.p")] == [
        'Invalid value: "x": spec.p in body should match \'(, but pattern is invalid: '
        "error parsing regexp: missing closing ): `(`'"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "spec.replicas in body should be greater than or equal to 0"),
        (11, "spec.replicas in body should be less than or equal to 10"),
    ],
)
def test_integer_bounds(value: int, message: str) -> None:
    assert run({"replicas": value}) == [f"spec.replicas: Invalid value: {value}: {message}"]


def test_number_bounds_multiple_and_exclusive() -> None:
    assert run({"ratio": 2.0}) == [
        "spec.ratio: Invalid value: 2: spec.ratio in body should be less than 2"
    ]
    assert run({"ratio": 0.7}) == [
        "spec.ratio: Invalid value: 0.7: spec.ratio in body should be a multiple of 0.5"
    ]


def test_integer_data_is_compared_with_truncated_bounds() -> None:
    # kube-openapi compares int64 data with int64(minimum): 0 passes a 0.5 minimum.
    node = SchemaNode({"type": "integer", "minimum": 0.5, "multipleOf": 3})
    assert v.validate(0, node, "n") == []
    assert [c.message for c in v.validate(4, node, "n")] == [
        "Invalid value: 4: n in body should be a multiple of 3"
    ]


def test_float_rendering_in_messages() -> None:
    node = SchemaNode({"type": "number", "maximum": 1000000})
    assert [c.message for c in v.validate(2e6, node, "n")] == [
        "Invalid value: 2e+06: n in body should be less than or equal to 1e+06"
    ]


def test_item_counts_and_set_duplicates() -> None:
    assert run({"tags": []}) == [
        "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"
    ]
    assert run({"tags": ["a", "b", "c", "d"]}) == [
        "spec.tags: Too many: 4: must have at most 3 items"
    ]
    assert run({"tags": ["a", "b", "a"]}) == ['spec.tags[2]: Duplicate value: "a"']


def test_list_map_duplicates_use_keys_and_defaults() -> None:
    ports = [{"name": "a"}, {"name": "a", "protocol": "TCP"}, {"name": "b"}]
    assert run({"ports": ports}) == [
        'spec.ports[1]: Duplicate value: map[string]interface {}{"name":"a", "protocol":"TCP"}'
    ]
    assert run({"ports": [{"name": "a"}, "x"]}) == [
        'spec.ports[1]: Invalid value: "string": spec.ports[1] in body must be of type object: '
        '"string"',
        'spec.ports[1]: Invalid value: "x": must be an object for an array of list-type map',
    ]


def test_map_values_and_items_paths() -> None:
    assert run({"labels": {"app": 1}}) == [
        'spec.labels.app: Invalid value: "integer": spec.labels.app in body must be of type '
        'string: "integer"'
    ]
    assert run({"ports": [{"name": 1}]}) == [
        'spec.ports[0].name: Invalid value: "integer": spec.ports[0].name in body must be of '
        'type string: "integer"'
    ]


def test_property_counts_stop_the_object_checks() -> None:
    assert run({"limits": {}}) == [
        "spec.limits: Invalid value: 0: spec.limits in body should have at least 1 properties"
    ]
    assert run({"limits": {"a": 1, "b": 2, "c": 3}}) == [
        "spec.limits: Too many: 3: must have at most 2 items"
    ]


def test_int_or_string() -> None:
    assert run({"port": 80}) == []
    assert run({"port": True}) == [
        'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: '
        '"boolean"',
        '<nil>: Invalid value: "": "spec.port" must validate at least one schema (anyOf)',
        'spec.port: Invalid value: "boolean": spec.port in body must be of type integer: "boolean"',
    ]


def test_format_errors_and_ignored_formats() -> None:
    assert run({"schedule": "tomorrow"}) == [
        'spec.schedule: Invalid value: "tomorrow": spec.schedule in body must be of type '
        'date-time: "tomorrow"'
    ]
    # int32 is not a format CRDs validate: the server strips it.
    assert run({"replicas": 2**40}) == [
        "spec.replicas: Invalid value: 1099511627776: "
        "spec.replicas in body should be less than or equal to 10"
    ]


FORMATS = [
    ("date-time", "2024-02-29T10:00:00.5+02:00", "2024-02-30T10:00:00Z"),
    ("date", "2024-02-29", "2023-02-29"),
    ("duration", "1h30m", "soon"),
    ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123e4567"),
    ("email", "Jane <jane@example.com>", "jane"),
    ("hostname", "api.example.com", "-bad-.com"),
    ("ipv4", "10.0.0.1", "10.0.0"),
    ("ipv6", "fe80::1", "10.0.0.1"),
    ("cidr", "10.0.0.0/8", "10.0.0.0/33"),
    ("mac", "01:23:45:67:89:ab", "01:23:45"),
    ("uri", "https://example.com/a?b=c", "example.com"),
    ("byte", "aGVsbG8=", "hello!"),
    ("bsonobjectid", "507f1f77bcf86cd799439011", "507f"),
    ("hexcolor", "#fff", "#ffff"),
    ("rgbcolor", "rgb(1, 2, 255)", "rgb(256,0,0)"),
    ("isbn10", "0-306-40615-2", "0-306-40615-3"),
    ("isbn13", "978-0-306-40615-7", "978-0-306-40615-8"),
    ("ssn", "123-45-6789", "123456789"),
    ("creditcard", "4111 1111 1111 1111", "4111 1111 1111 1112"),
]


@pytest.mark.parametrize(("fmt", "good", "bad"), FORMATS)
def test_formats(fmt: str, good: str, bad: str) -> None:
    node = SchemaNode({"type": "string", "format": fmt})
    assert v.validate(good, node, "f") == []
    assert [c.message for c in v.validate(bad, node, "f")] == [
        f'Invalid value: "{bad}": f in body must be of type {fmt}: "{bad}"'
    ]


def test_unsupported_formats_are_ignored() -> None:
    for fmt in ("int32", "int64", "float", "double", "quantity", "password"):
        assert v.validate("anything", SchemaNode({"type": "string", "format": fmt}), "f") == []


def test_format_mismatch_quirk_for_non_strings() -> None:
    node = SchemaNode({"type": "string", "format": "date"})
    assert [c.message for c in v.validate(5, node, "d")] == [
        'Invalid value: "int64": d in body must be of type date: "int64"'
    ]
    assert v.validate(["x"], node, "d") == []  # arrays skip the type check under a format


def test_preserve_unknown_fields_and_embedded_resources() -> None:
    assert run({"extra": {"x": {"y": 1}}}) == []
    assert run({"template": {"kind": "Pod"}}) == [
        "spec.template.apiVersion: Required value: must not be empty"
    ]
    assert run({"template": {"apiVersion": "a/b/c", "kind": ""}}) == [
        'spec.template.apiVersion: Invalid value: "a/b/c": unexpected GroupVersion string: a/b/c',
        'spec.template.kind: Invalid value: "": must not be empty',
    ]
    assert run({"template": {"apiVersion": 1, "kind": "My_Kind"}})[0] == (
        "spec.template.apiVersion: Invalid value: 1: must be a string"
    )


def test_junctors() -> None:
    node = SchemaNode(
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
            "not": {"required": ["c"]},
            "allOf": [{"properties": {"a": {"maxLength": 1}}}],
        }
    )
    assert v.validate({"a": "x"}, node, "spec") == []
    msgs = [c.describe() for c in v.validate({"a": "xy", "b": "z", "c": 1}, node, "spec")]
    assert msgs == [
        '<nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). '
        "Found 2 valid alternatives",
        "spec.a: Too long: may not be more than 1 bytes",
        '<nil>: Invalid value: "": "spec" must validate all the schemas (allOf). None validated',
        '<nil>: Invalid value: "": "spec" must not validate the schema (not)',
    ]
    assert [c.describe() for c in v.validate({}, node, "spec")][:2] == [
        '<nil>: Invalid value: "": "spec" must validate one and only one schema (oneOf). '
        "Found none valid",
        "spec.a: Required value",
    ]


def test_additional_properties_false() -> None:
    node = SchemaNode({"type": "object", "additionalProperties": False})
    assert [c.describe() for c in v.validate({"x": 1}, node, "spec.m")] == [
        'spec.m: Invalid value: "x": spec.m.x in body is a forbidden property'
    ]


def test_root_metadata_is_left_to_the_metadata_validator() -> None:
    obj = {
        "metadata": {"name": 5, "ownerReferences": [{"uid": "a"}, {"uid": "a"}]},
        "spec": {"image": "a"},
    }
    assert v.validate(obj, SCHEMA) == []


def test_validate_at_prefixes_fields_not_messages() -> None:
    node = SchemaNode(
        {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["m"]}
    )
    assert [c.describe() for c in v.validate_at({"n": "x"}, node, "x.default")] == [
        'x.default.n: Invalid value: "string": n in body must be of type integer: "string"',
        "x.default.m: Required value",
    ]
    assert [c.describe() for c in v.validate_at("x", SchemaNode({"type": "integer"}), "d")] == [
        'd: Invalid value: "string":  in body must be of type integer: "string"'
    ]


# -- fuzzing -------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "metadata", "kind", "apiVersion", "x-y"])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
SCALAR_SCHEMAS = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("string")},
        optional={
            "maxLength": st.integers(0, 4),
            "minLength": st.integers(0, 4),
            "pattern": st.sampled_from(["^a", "[0-9]+$", "(", "\\pL"]),
            "format": st.sampled_from(
                ["date-time", "date", "uri", "byte", "int32", "duration", "mac"]
            ),
            "enum": st.lists(JSON, max_size=3),
            "nullable": st.booleans(),
        },
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["integer", "number"])},
        optional={
            "minimum": st.integers(-5, 5) | st.floats(-5, 5),
            "maximum": st.integers(-5, 5) | st.floats(-5, 5),
            "exclusiveMinimum": st.booleans(),
            "multipleOf": st.sampled_from([0.5, 2, 3, 0.1, -1]),
        },
    ),
    st.just({"type": "boolean"}),
    st.just(
        {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    ),
)


def _composite(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    obj = st.fixed_dictionaries(
        {"type": st.just("object"), "properties": st.dictionaries(KEYS, children, max_size=3)},
        optional={
            "required": st.lists(KEYS, max_size=2),
            "minProperties": st.integers(0, 2),
            "maxProperties": st.integers(0, 3),
            "x-kubernetes-preserve-unknown-fields": st.just(True),
            "x-kubernetes-embedded-resource": st.just(True),
            "allOf": st.lists(
                st.fixed_dictionaries({"required": st.lists(KEYS, max_size=1)}), max_size=2
            ),
            "oneOf": st.lists(
                st.fixed_dictionaries({"required": st.lists(KEYS, max_size=1)}), max_size=2
            ),
            "not": st.fixed_dictionaries({"required": st.lists(KEYS, max_size=1)}),
        },
    )
    mapping = st.fixed_dictionaries({"type": st.just("object"), "additionalProperties": children})
    array = st.fixed_dictionaries(
        {"type": st.just("array"), "items": children},
        optional={
            "x-kubernetes-list-type": st.sampled_from(["atomic", "set", "map"]),
            "x-kubernetes-list-map-keys": st.lists(KEYS, min_size=1, max_size=2),
            "maxItems": st.integers(0, 3),
            "uniqueItems": st.booleans(),
        },
    )
    return obj | mapping | array


SCHEMAS = st.recursive(SCALAR_SCHEMAS, _composite, max_leaves=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SCHEMAS, value=JSON)
def test_arbitrary_values_never_raise(schema: dict[str, Any], value: Any) -> None:
    for node in (
        SchemaNode(schema),
        schemas.crd_schema({"type": "object", "properties": {"spec": schema}}),
    ):
        causes = v.validate(value, node) + v.validate(value, node, "spec")
        assert all(isinstance(c, Cause) and c.field and c.message for c in causes)
