"""x-kubernetes-validations: evaluation, values, library and wording."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilothouse.apiserver import schemas
from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural import cel, cel_compile, cel_values


def rules(*rules: dict[str, Any] | str, **props: Any) -> dict[str, Any]:
    listed = [{"rule": r} if isinstance(r, str) else r for r in rules]
    return {"type": "object", "properties": props, "x-kubernetes-validations": listed}


STR = {"type": "string"}
INT = {"type": "integer"}


def check(schema: dict[str, Any], obj: Any, old: Any = None, path: str = "spec") -> list[str]:
    return [c.describe() for c in cel.validate_cel(obj, old, SchemaNode(schema), path)]


def test_passing_and_failing_rules_with_messages() -> None:
    schema = rules(
        "self.min <= self.max",
        {"rule": "self.max < 100", "message": "  max must be small  "},
        min=INT,
        max=INT,
    )
    assert check(schema, {"min": 1, "max": 2}) == []
    assert check(schema, {"min": 300, "max": 200}) == [
        'spec: Invalid value: "object": failed rule: self.min <= self.max',
        'spec: Invalid value: "object": max must be small',
    ]


def test_root_rules_fail_at_nil_and_scalars_report_their_type() -> None:
    root = schemas.crd_schema(
        {
            "type": "object",
            "x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('a')"}],
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "name": {
                            "type": "string",
                            "x-kubernetes-validations": [
                                {"rule": "self.size() > 2", "message": "short"}
                            ],
                        }
                    },
                }
            },
        }
    )
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "b"}, "spec": {"name": "a"}}
    assert [c.describe() for c in cel.validate_cel(obj, None, root)] == [
        "<nil>: Invalid value: \"object\": failed rule: self.metadata.name.startsWith('a')",
        'spec.name: Invalid value: "string": short',
    ]


def test_resource_roots_expose_type_meta_even_when_undeclared() -> None:
    schema = {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.kind == 'X' && self.metadata.name == 'n'"}],
    }
    obj = {"apiVersion": "a/v1", "kind": "X", "metadata": {"name": "n"}}
    assert check(schema, obj, path="") == []
    assert check(schema, {**obj, "kind": "Y"}, path="") == [
        '<nil>: Invalid value: "object": '
        "failed rule: self.kind == 'X' && self.metadata.name == 'n'"
    ]


def test_reasons_field_paths_and_message_expressions() -> None:
    schema = rules(
        {
            "rule": "self.a != 'x'",
            "reason": "FieldValueForbidden",
            "message": "no x",
            "fieldPath": ".a",
        },
        {"rule": "has(self.b)", "reason": "FieldValueRequired", "message": "b please"},
        {"rule": "self.a != 'x'", "reason": "FieldValueDuplicate"},
        {"rule": "self.a != 'x'", "messageExpression": "'a is ' + self.a", "fieldPath": "['a']"},
        {"rule": "self.a != 'x'", "messageExpression": "1", "message": "fallback"},
        a=STR,
        b=STR,
    )
    assert check(schema, {"a": "x"}) == [
        "spec.a: Forbidden: no x",
        "spec: Required value: b please",
        'spec: Duplicate value: "object"',
        'spec.a: Invalid value: "object": a is x',
        'spec: Invalid value: "object": fallback',
    ]
    causes = cel.validate_cel({"a": "x"}, None, SchemaNode(schema), "spec")
    assert [c.reason for c in causes][:3] == [
        "FieldValueForbidden",
        "FieldValueRequired",
        "FieldValueDuplicate",
    ]


def test_transition_rules_need_an_old_value() -> None:
    schema = rules(
        {"rule": "self.image == oldSelf.image", "message": "image is immutable"}, image=STR
    )
    assert check(schema, {"image": "b"}) == []  # create
    assert check(schema, {"image": "b"}, {"image": "a"}) == [
        'spec: Invalid value: "object": image is immutable'
    ]
    assert check(schema, {"image": "a"}, {"image": "a"}) == []


def test_optional_old_self() -> None:
    schema = rules(
        {
            "rule": "!oldSelf.hasValue() || oldSelf.value().n <= self.n",
            "optionalOldSelf": True,
            "message": "no decrease",
        },
        {
            "rule": "oldSelf.orValue(self).n <= self.n + 1",
            "optionalOldSelf": True,
            "message": "too fast",
        },
        n=INT,
    )
    assert check(schema, {"n": 1}) == []
    assert check(schema, {"n": 1}, {"n": 5}) == [
        'spec: Invalid value: "object": no decrease',
        'spec: Invalid value: "object": too fast',
    ]


def test_old_values_correlate_through_maps_and_map_lists_only() -> None:
    immutable = {
        "type": "object",
        "properties": {"key": STR, "v": STR},
        "x-kubernetes-validations": [{"rule": "self.v == oldSelf.v", "message": "immutable"}],
    }
    schema = {
        "type": "object",
        "properties": {
            "byKey": {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["key"],
                "items": immutable,
            },
            "atomic": {"type": "array", "items": immutable},
            "fixed": {
                "type": "object",
                "x-kubernetes-map-type": "atomic",
                "properties": {"inner": immutable},
            },
        },
    }
    old: dict[str, Any] = {
        "byKey": [{"key": "a", "v": "1"}, {"key": "b", "v": "1"}],
        "atomic": [{"key": "a", "v": "1"}],
        "fixed": {"inner": {"key": "a", "v": "1"}},
    }
    new: dict[str, Any] = {
        "byKey": [{"key": "b", "v": "2"}, {"key": "c", "v": "2"}],
        "atomic": [{"key": "a", "v": "2"}],
        "fixed": {"inner": {"key": "a", "v": "2"}},
    }
    assert check(schema, new, old) == ['spec.byKey[0]: Invalid value: "object": immutable']


def test_values_follow_the_schema() -> None:
    schema = rules(
        "self.ratio == 1",  # a number is a double even when written as 1
        "self.ratio > 0.5 && self.count < 2.5",
        "self.timeout > duration('1m')",
        "self.at < timestamp('2030-01-01T00:00:00Z')",
        "self.data == b'hi'",
        "self.x__dash__y == 'ok' && self.__namespace__ == 'ns'",
        "self.labels['a-b'] == 'c'",
        "self.port == 80 || self.port == 'http'",
        ratio={"type": "number"},
        count=INT,
        timeout={"type": "string", "format": "duration"},
        at={"type": "string", "format": "date-time"},
        data={"type": "string", "format": "byte"},
        labels={"type": "object", "additionalProperties": STR},
        port={"x-kubernetes-int-or-string": True},
        namespace=STR,
        **{"x-y": STR},
    )
    obj = {
        "ratio": 1,
        "count": 1,
        "timeout": "5m",
        "at": "2024-01-01T00:00:00Z",
        "data": "aGk=",
        "x-y": "ok",
        "namespace": "ns",
        "labels": {"a-b": "c"},
        "port": "http",
    }
    assert check(schema, obj) == []


@pytest.mark.parametrize(
    "rule",
    [
        "self.s.lowerAscii() == 'abc' && self.s.upperAscii() == 'ABC'",
        "self.s.split('b') == ['A', 'c'] && ['a', 'b'].join('-') == 'a-b'",
        "'  x '.trim() == 'x' && self.s.substring(1) == 'bc' && self.s.charAt(0) == 'A'",
        "self.s.indexOf('b') == 1 && self.s.lastIndexOf('c') == 2 && self.s.replace('b', 'B') == "
        "'ABc'",
        "self.s.matches('^A') && self.s.find('[a-z]+') == 'bc' && self.s.findAll('[a-z]') == ['b', "
        "'c']",
        "self.l.isSorted() && self.l.sum() == 6 && self.l.min() == 1 && self.l.max() == 3",
        "self.l.indexOf(2) == 1 && self.l.all(x, x > 0) && self.l.exists_one(x, x == 2)",
        "self.l.map(x, x * 2) == [2, 4, 6] && self.l.filter(x, x > 1).size() == 2",
        "quantity(self.q).isGreaterThan(quantity('1')) && "
        "quantity('1Gi').asInteger() == 1073741824",
        "quantity('1.5').isInteger() == false && isQuantity('10m') && !isQuantity('ten')",
        "quantity('1').add(quantity('500m')).compareTo(quantity('1.5')) == 0",
        "url(self.u).getHost() == 'example.com:8080' && url(self.u).getScheme() == 'https'",
        "url(self.u).getHostname() == 'example.com' && url(self.u).getPort() == '8080'",
        "url(self.u).getEscapedPath() == '/a' && url(self.u).getQuery()['x'] == ['1']",
        "isURL(self.u) && !isURL('nope')",
        "sets.contains(self.l, [1]) && sets.intersects(self.l, [3, 4]) && sets.equivalent(self.l, "
        "[3, 2, 1])",
        "1 == 1.0 && 2 > 1.5 && [0.5, 1.5].sum() == 2.0",
    ],
)
def test_kubernetes_library(rule: str) -> None:
    schema = rules(rule, s=STR, l={"type": "array", "items": INT}, q=STR, u=STR)
    obj = {"s": "Abc", "l": [1, 2, 3], "q": "1500m", "u": "https://example.com:8080/a?x=1"}
    assert check(schema, obj) == []


def test_runtime_errors_use_cel_go_wording() -> None:
    schema = rules(
        "self.missing == 1", "self.a / self.b > 0", "self.a + 'x' == 'y'", a=INT, b=INT, missing=INT
    )
    assert check(schema, {"a": 1, "b": 0}) == [
        'spec: Invalid value: "object": no such key: missing evaluating rule: self.missing == 1',
        'spec: Invalid value: "object": division by zero evaluating rule: self.a / self.b > 0',
        "spec: Invalid value: \"object\": 'no such overload': call arguments did not match a "
        "supported operator, function or macro signature for rule: self.a + 'x' == 'y'",
    ]


def test_nulls_skip_rules_and_bad_rules_report() -> None:
    schema = {"type": "string", "nullable": True, "x-kubernetes-validations": [{"rule": "false"}]}
    assert check(schema, None) == []
    broken = {"type": "string", "x-kubernetes-validations": [{"rule": "self +"}, {"rule": "   "}]}
    assert check(broken, "x")[0].startswith(
        'spec: Invalid value: "string": rule compile error: ERROR: <input>'
    )


def test_rules_in_all_of_run_at_the_same_node() -> None:
    schema = {
        "type": "object",
        "properties": {"a": INT},
        "allOf": [{"x-kubernetes-validations": [{"rule": "self.a > 1", "message": "a > 1"}]}],
    }
    assert check(schema, {"a": 1}) == ['spec: Invalid value: "object": a > 1']


def test_programs_are_compiled_once() -> None:
    assert cel_compile.compiled("self.a == 1") is cel_compile.compiled("self.a == 1")


def test_blocking_error() -> None:
    assert cel.blocking_error([Cause("FieldValueInvalid", "x", "spec")]) is None
    blocked = cel.blocking_error([Cause("FieldValueTypeInvalid", "x", "spec")])
    assert blocked is not None
    assert blocked.describe() == (
        '<nil>: Invalid value: "null": some validation rules were not checked because the '
        "object was invalid; correct the existing errors to complete validation"
    )


def test_escape() -> None:
    assert cel_values.escape("a-b.c/d__e") == "a__dash__b__dot__c__slash__d__underscores__e"
    assert cel_values.escape("namespace") == "__namespace__"
    assert cel_values.escape("1abc") is None
    assert cel_values.escape("a b") is None


# -- fuzzing -------------------------------------------------------------------------------

FUZZ = SchemaNode(
    rules(
        "self.a.size() > 1",
        "self.l.all(x, x > 0)",
        "self.m.exists(k, k == 'x') || oldSelf.a == self.a",
        {"rule": "self.a != 'z'", "messageExpression": "'bad ' + self.a", "fieldPath": ".a"},
        a=STR,
        l={"type": "array", "items": INT},
        m={"type": "object", "additionalProperties": {"type": "number"}},
    )
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "l", "m", "x"]), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(obj=JSON, old=JSON)
def test_arbitrary_values_never_raise(obj: Any, old: Any) -> None:
    for causes in (cel.validate_cel(obj, old, FUZZ, "spec"), cel.validate_cel(obj, None, FUZZ)):
        assert all(isinstance(c, Cause) and c.message for c in causes)
