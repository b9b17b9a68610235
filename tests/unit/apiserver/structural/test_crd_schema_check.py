"""Structural-schema checks made when a CRD is written."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.structural.crd_schema_check import check_structural

P = "spec.versions[0].schema.openAPIV3Schema"

# Shaped like a kubebuilder-generated CRD (cert-manager/prometheus-operator style).
REAL_WORLD = {
    "type": "object",
    "description": "Certificate is the Schema for the certificates API",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["secretName"],
            "properties": {
                "secretName": {"type": "string", "maxLength": 253, "pattern": "^[a-z0-9.-]+$"},
                "duration": {"type": "string", "format": "duration", "default": "2160h"},
                "dnsNames": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
                "port": {
                    "x-kubernetes-int-or-string": True,
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                },
                "limits": {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [{"type": "integer"}, {"type": "string"}],
                        "pattern": "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))$",
                        "x-kubernetes-int-or-string": True,
                    },
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
                        },
                    },
                },
                "issuerRef": {
                    "type": "object",
                    "x-kubernetes-map-type": "atomic",
                    "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "x-kubernetes-preserve-unknown-fields": True,
                },
                "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "mode": {
                    "type": "string",
                    "oneOf": [{"enum": ["a"]}, {"enum": ["b"]}],
                    "not": {"pattern": "^x"},
                },
                "defaults": {
                    "type": "object",
                    "default": {"replicas": 1},
                    "properties": {"replicas": {"type": "integer", "minimum": 0}},
                },
            },
            "anyOf": [
                {"required": ["dnsNames"]},
                {"properties": {"template": {"required": ["kind"]}}},
            ],
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def errs(schema: Any) -> list[str]:
    return [c.describe() for c in check_structural(schema, P)]


def test_real_world_schema_is_structural() -> None:
    assert errs(REAL_WORLD) == []
    assert check_structural({"type": "object"}) == []


def test_missing_types_and_items_sorted_by_text() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"b": {}, "a": {"type": "array"}, "c": {"items": {}}},
            }
        },
    }
    assert errs(schema) == [
        f"{P}.properties[spec].properties[a].items: Required value: must be specified",
        f"{P}.properties[spec].properties[b].type: Required value: must not be empty for specified "
        "object fields",
        f"{P}.properties[spec].properties[c].items.type: Required value: must not be empty for "
        "specified array items",
        f"{P}.properties[spec].properties[c].type: Required value: must not be empty for specified "
        "object fields",
    ]
    assert errs({"properties": {}}) == [f"{P}.type: Required value: must not be empty at the root"]
    assert errs({"type": "string"}) == [
        f'{P}.type: Invalid value: "string": must be object at the root'
    ]


def test_root_restrictions() -> None:
    schema = {
        "type": "object",
        "nullable": True,
        "additionalProperties": {"type": "string"},
        "properties": {
            "kind": {"type": "integer"},
            "metadata": {
                "type": "object",
                "properties": {"name": {"type": "string", "maxLength": 5}, "labels": {}},
            },
        },
    }
    assert errs(schema) == [
        f"{P}.nullable: Forbidden: nullable cannot be true at the root",
        f"{P}.additionalProperties: Forbidden: must not be used at the root",
        f'{P}.properties[kind].type: Invalid value: "integer": must be string',
        f"{P}.properties[metadata].properties[labels].type: Required value: must not be empty for "
        "specified object fields",
        f"{P}.properties[metadata]: Forbidden: must not specify anything other than name and "
        "generateName, "
        "but metadata is implicitly specified",
        f"{P}.additionalProperties: Forbidden: additionalProperties and properties are mutual "
        "exclusive",
    ]
    ok = {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "properties": {"name": {"maxLength": 5, "type": "string"}},
            }
        },
    }
    assert errs(ok) == []


def test_junctors_must_be_value_validations_on_declared_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "allOf": [
                    {
                        "type": "object",
                        "description": "d",
                        "properties": {"a": {"nullable": True}, "zz": {}},
                    },
                    {"properties": {"metadata": {}}, "x-kubernetes-preserve-unknown-fields": True},
                ],
            }
        },
    }
    assert errs(schema) == [
        f"{P}.properties[spec].allOf[0].description: Forbidden: must be empty to be structural",
        f"{P}.properties[spec].allOf[0].properties[a].nullable: Forbidden: must be false to be "
        "structural",
        f"{P}.properties[spec].allOf[0].type: Forbidden: must be empty to be structural",
        f"{P}.properties[spec].allOf[1].properties[metadata]: Forbidden: must not be specified in "
        "a nested context",
        f"{P}.properties[spec].allOf[1].x-kubernetes-preserve-unknown-fields: Forbidden: must be "
        "false to be structural",
        f"{P}.properties[spec].properties[metadata]: Required value: because it is defined in "
        f"{P}.properties[spec].allOf[1].properties[metadata]",
        f"{P}.properties[spec].properties[zz]: Required value: because it is defined in "
        f"{P}.properties[spec].allOf[0].properties[zz]",
    ]


def test_extensions() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"x-kubernetes-int-or-string": True, "x-kubernetes-preserve-unknown-fields": True},
            "b": {"type": "string", "x-kubernetes-embedded-resource": True},
            "c": {"type": "object", "x-kubernetes-embedded-resource": True},
            "d": {"type": "object", "x-kubernetes-preserve-unknown-fields": False},
            "e": {"type": "string", "pattern": "(["},
        },
    }
    assert errs(schema) == [
        f"{P}.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be "
        "false if "
        "x-kubernetes-int-or-string is true",
        f"{P}.properties[b].properties: Required value: must not be empty if "
        "x-kubernetes-embedded-resource is "
        "true without x-kubernetes-preserve-unknown-fields",
        f'{P}.properties[b].type: Invalid value: "string": must be object if '
        "x-kubernetes-embedded-resource is true",
        f"{P}.properties[c].properties: Required value: must not be empty if "
        "x-kubernetes-embedded-resource is "
        "true without x-kubernetes-preserve-unknown-fields",
        f'{P}.properties[e].pattern: Invalid value: "([": must be a valid regular expression, but '
        "isn't: "
        "missing closing ]: `[`",
        f"{P}.properties[d].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be "
        "true or undefined",
    ]


def test_unsupported_openapi_features() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {
                "type": "object",
                "$ref": "#/definitions/x",
                "id": "x",
                "patternProperties": {"a": {}},
            },
            "b": {"type": "array", "items": [{"type": "string"}], "uniqueItems": True},
            "c": {"type": "foo"},
            "d": {
                "type": "object",
                "properties": {"x": {"type": "string"}},
                "additionalProperties": False,
            },
        },
    }
    found = errs(schema)
    assert f"{P}.properties[a].$ref: Forbidden: $ref is not supported" in found
    assert f"{P}.properties[a].id: Forbidden: id is not supported" in found
    assert (
        f"{P}.properties[a].patternProperties: Forbidden: patternProperties is not supported"
        in found
    )
    assert (
        f"{P}.properties[b].items: Forbidden: items must be a schema object and not an array"
        in found
    )
    assert (
        f"{P}.properties[b].uniqueItems: Forbidden: uniqueItems cannot be set to true since the "
        "runtime "
        "complexity becomes quadratic" in found
    )
    assert (
        f'{P}.properties[c].type: Unsupported value: "foo": supported values: "array", "boolean", '
        '"integer", "number", "object", "string"' in found
    )
    assert (
        f"{P}.properties[d].additionalProperties: Forbidden: additionalProperties and properties "
        "are mutual exclusive" in found
    )


def test_defaults_forbidden_in_type_meta_and_metadata() -> None:
    schema = {"type": "object", "properties": {"kind": {"type": "string", "default": "X"}}}
    assert errs(schema) == [
        f"{P}.properties[kind].default: Forbidden: must not be set in top-level kind"
    ]


def test_list_and_map_types() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "x-kubernetes-list-type": "set"},
            "b": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "bag"},
            "c": {
                "type": "array",
                "items": {"type": "object", "properties": {"k": {"type": "object"}}},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["k", "missing", "k"],
            },
            "d": {
                "type": "array",
                "items": {"type": "object", "nullable": True},
                "x-kubernetes-list-type": "set",
            },
            "e": {"type": "string", "x-kubernetes-map-type": "granular"},
            "f": {
                "type": "array",
                "items": {"type": "string"},
                "x-kubernetes-list-map-keys": ["x"],
            },
            "g": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["n"],
                "items": {"type": "object", "properties": {"n": {"type": "string"}}},
            },
        },
    }
    found = errs(schema)
    keys = 'Invalid value: []string{"k", "missing", "k"}'
    expected = [
        f'{P}.properties[a].type: Invalid value: "string": must be array if x-kubernetes-list-type '
        "is specified",
        f'{P}.properties[b].x-kubernetes-list-type: Unsupported value: "bag": supported values: '
        '"atomic", "set", "map"',
        f'{P}.properties[c].items.properties[k].type: Invalid value: "object": must be a scalar '
        "type if "
        "parent array's x-kubernetes-list-type is map",
        f"{P}.properties[c].x-kubernetes-list-map-keys: {keys}: entries must all be names of item "
        "properties",
        f"{P}.properties[c].x-kubernetes-list-map-keys: {keys}: must not contain duplicate entries",
        f"{P}.properties[c].items.properties[k].default: Required value: this property is in "
        "x-kubernetes-list-map-keys, so it must have a default or be a required property",
        f'{P}.properties[d].items.x-kubernetes-map-type: Invalid value: "null": must be atomic as '
        "item of a "
        "list with x-kubernetes-list-type=set",
        f"{P}.properties[d].items.nullable: Forbidden: cannot be nullable when "
        "x-kubernetes-list-type is set",
        f'{P}.properties[e].type: Invalid value: "string": must be object if x-kubernetes-map-type '
        "is specified",
        f"{P}.properties[f].x-kubernetes-list-type: Required value: must be map if "
        "x-kubernetes-list-map-keys "
        "is non-empty",
        f"{P}.properties[g].items.properties[n].default: Required value: this property is in "
        "x-kubernetes-list-map-keys, so it must have a default or be a required property",
    ]
    assert [e for e in expected if e not in found] == []
    # The repeated key "k" is checked twice, as the server does (causes are not deduplicated).
    assert len(found) == len(expected) + 2


def test_defaults_must_be_pruned_and_valid() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "a": {
                        "type": "object",
                        "properties": {"x": {"type": "string"}},
                        "default": {"x": "1", "y": 2},
                    },
                    "b": {"type": "integer", "minimum": 1, "default": 0},
                    "c": {
                        "type": "string",
                        "default": "bad",
                        "x-kubernetes-validations": [
                            {"rule": "self != 'bad'", "message": "not bad"}
                        ],
                    },
                },
            }
        },
    }
    assert errs(schema) == [
        f"{P}.properties[spec].properties[a].default: "
        'Invalid value: map[string]interface {}{"x":"1", '
        '"y":2}: must not have unknown fields',
        f"{P}.properties[spec].properties[b].default: Invalid value: 0:  in body should be greater "
        "than or equal to 1",
        f'{P}.properties[spec].properties[c].default: Invalid value: "string": not bad',
    ]


def test_default_path_prefix() -> None:
    assert check_structural({"type": "string"})[0].field == "spec.validation.openAPIV3Schema.type"


SCHEMA_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "properties",
                    "items",
                    "additionalProperties",
                    "allOf",
                    "anyOf",
                    "not",
                    "default",
                    "x-kubernetes-list-type",
                    "x-kubernetes-list-map-keys",
                    "x-kubernetes-embedded-resource",
                    "x-kubernetes-preserve-unknown-fields",
                    "x-kubernetes-int-or-string",
                    "metadata",
                    "pattern",
                    "required",
                    "nullable",
                    "x-kubernetes-map-type",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=SCHEMA_VALUES)
def test_arbitrary_schemas_never_raise(schema: Any) -> None:
    assert all(isinstance(c, Cause) for c in check_structural(schema, P))


def test_a_junctor_that_is_not_a_list_is_a_cause_not_a_crash() -> None:
    # Found by the property above: ``allOf: true`` beside a default used to raise TypeError.
    schema = {
        "type": None,
        "allOf": True,
        "default": False,
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert all(isinstance(c, Cause) for c in check_structural(schema, P))
