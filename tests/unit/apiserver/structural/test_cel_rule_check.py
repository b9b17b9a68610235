"""x-kubernetes-validations: the CRD-time checks of rules (``cel.compile_errors``)."""

from __future__ import annotations

from typing import Any

from pilothouse.apiserver import schemas
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural import cel, cel_rule_check


def rules(*rules: dict[str, Any] | str, **props: Any) -> dict[str, Any]:
    listed = [{"rule": r} if isinstance(r, str) else r for r in rules]
    return {"type": "object", "properties": props, "x-kubernetes-validations": listed}


STR = {"type": "string"}
INT = {"type": "integer"}


def rule_repr(rule: str) -> str:
    return (
        f'apiextensions.ValidationRule{{Rule:"{rule}", Message:"", MessageExpression:"", '
        'Reason:(*apiextensions.FieldValueErrorReason)(nil), FieldPath:"", '
        "OptionalOldSelf:(*bool)(nil)}"
    )


def compile_errs(schema: dict[str, Any]) -> list[str]:
    return [
        c.describe() for c in cel.compile_errors(schema, "spec.versions[0].schema.openAPIV3Schema")
    ]


def test_valid_rules_compile() -> None:
    schema = {
        "type": "object",
        "x-kubernetes-validations": [
            {"rule": "self.metadata.name.size() < 20 && self.kind == 'X'"}
        ],
        "properties": {
            "spec": rules(
                "self.items.all(i, i.name != '' && i.port > 0)",
                "has(self.labels) && self.labels.all(k, self.labels[k].size() < 10)",
                {"rule": "self.items.size() >= oldSelf.items.size()", "message": "append only"},
                {"rule": "oldSelf.hasValue()", "optionalOldSelf": True},
                items={
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": STR, "port": INT}},
                },
                labels={"type": "object", "additionalProperties": STR},
            )
        },
    }
    assert compile_errs(schema) == []
    assert cel.compile_errors(schemas.crd_schema(schema)) == []


def test_compile_errors_are_reported_like_cel_go() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": rules("self.replcas > 1", "self.a.b == 1", "foo(self.a)", "self.a +", a=STR)
        },
    }
    base = "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations"
    assert compile_errs(schema) == [
        f"{base}[0].rule: Invalid value: {rule_repr('self.replcas > 1')}: compilation failed: "
        "ERROR: <input>:1:5: undefined field 'replcas'\n | self.replcas > 1\n | ....^",
        f"{base}[1].rule: Invalid value: {rule_repr('self.a.b == 1')}: compilation failed: "
        "ERROR: <input>:1:7: type 'string' does not support field selection\n | self.a.b == 1\n | "
        "......^",
        f"{base}[2].rule: Invalid value: {rule_repr('foo(self.a)')}: compilation failed: "
        "ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')\n | foo(self.a)\n | ^",
        f"{base}[3].rule: Invalid value: {rule_repr('self.a +')}: compilation failed: "
        "ERROR: <input>:1:8: Syntax error: mismatched input '<EOF>'\n | self.a +\n | .......^",
    ]


def test_metadata_is_limited_to_name_and_generate_name() -> None:
    schema = {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.metadata.labels.size() > 0"}],
    }
    (err,) = compile_errs(schema)
    assert "undefined field 'labels'" in err


def test_rule_metadata_checks() -> None:
    schema = rules(
        "  ",
        {"rule": "true", "message": "  "},
        {"rule": "true", "message": "a\nb"},
        {"rule": "true\n&& true"},
        {"rule": "true", "messageExpression": " "},
        {"rule": "true", "reason": "Nope"},
        {"rule": "true", "fieldPath": ".missing"},
        a=STR,
    )
    base = "x.x-kubernetes-validations"
    assert [c.describe() for c in cel.compile_errors(schema, "x")] == [
        f"{base}[0].rule: Required value: rule is not specified",
        f'{base}[1].message: Invalid value: "  ": message must be non-empty if specified',
        f'{base}[2].message: Invalid value: "a\\nb": message must not contain line breaks',
        f"{base}[3].message: Required value: "
        "message must be specified if rule contains line breaks",
        f"{base}[4].messageExpression: Required value: messageExpression must be non-empty if "
        "specified",
        f'{base}[5].reason: Unsupported value: "Nope": supported values: "FieldValueDuplicate", '
        '"FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"',
        f'{base}[6].fieldPath: Invalid value: ".missing": fieldPath must be a valid path',
    ]


def test_transition_rules_on_uncorrelatable_nodes() -> None:
    item = rules({"rule": "self.a == oldSelf.a"}, a=STR)
    schema = {
        "type": "object",
        "properties": {
            "list": {"type": "array", "items": item},
            "mapList": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["a"],
                "items": item,
            },
            "atomic": {
                "type": "object",
                "x-kubernetes-map-type": "atomic",
                "properties": {"in": item},
            },
            "plain": rules({"rule": "self.a == 'x'", "optionalOldSelf": True}, a=STR),
        },
    }
    assert [c.describe() for c in cel.compile_errors(schema, "s")] == [
        's.properties[list].items.x-kubernetes-validations[0].rule: Invalid value: "self.a == '
        'oldSelf.a": '
        "oldSelf cannot be used on the uncorrelatable portion of the schema within "
        "s.properties[list]",
        "s.properties[atomic].properties[in].x-kubernetes-validations[0].rule: Invalid value: "
        '"self.a == oldSelf.a": oldSelf cannot be used on the uncorrelatable portion of the schema '
        "within s.properties[atomic]",
        "s.properties[plain].x-kubernetes-validations[0].optionalOldSelf: Invalid value: true: "
        "may not be set if oldSelf is not used in rule",
    ]


def test_valid_field_path() -> None:
    node = SchemaNode(
        {
            "type": "object",
            "properties": {
                "a.b": {"type": "object", "properties": {"c": STR}},
                "m": {"type": "object", "additionalProperties": STR},
            },
        }
    )
    assert cel_rule_check.valid_field_path("['a.b'].c", node) == ("a.b.c", None)
    assert cel_rule_check.valid_field_path(".m.key", node) == ("m[key]", None)
    assert cel_rule_check.valid_field_path(".nope", node) == (
        None,
        "does not refer to a valid field",
    )
    assert cel_rule_check.valid_field_path("a", node) == (None, "expected [ or . but got: a")
