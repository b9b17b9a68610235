"""The public face of :mod:`pilothouse.api.jsonpath` as printer columns use it: optional
braces, filters, comparisons, missing values and per-action result groups."""

from __future__ import annotations

import pytest

from pilothouse.api.jsonpath import JsonPathError, parse, parse_template

POD = {
    "metadata": {"name": "p", "labels": {"app": "web"}},
    "spec": {"replicas": 3},
    "status": {
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "Crash"},
        ]
    },
}


def test_braces_are_optional() -> None:
    assert parse(".spec.replicas").find(POD) == [3]
    assert parse("{.spec.replicas}").find(POD) == [3]
    assert parse(".metadata.labels.app").find(POD) == ["web"]


def test_condition_filter() -> None:
    path = parse('.status.conditions[?(@.type=="Ready")].status')
    assert path.find(POD) == ["False"]
    assert parse('.status.conditions[?(@.type!="Ready")].type').find(POD) == ["Initialized"]


@pytest.mark.parametrize(
    ("op", "expected"),
    [("<", [1]), ("<=", [1, 2]), (">", [3]), (">=", [2, 3]), ("==", [2]), ("!=", [1, 3])],
)
def test_comparison_operators(op: str, expected: list[int]) -> None:
    data = [{"v": 1}, {"v": 2}, {"v": 3}]
    assert parse(f"[?(@.v {op} 2)].v").find(data) == expected


def test_comparison_needs_matching_kinds() -> None:
    with pytest.raises(JsonPathError, match="incompatible types"):
        parse("[?(@.v == 2.0)]").find([{"v": 2}])
    with pytest.raises(JsonPathError, match="invalid type"):
        parse("[?(@.v < true)]").find([{"v": True}])
    assert parse("[?(@.v == 2.5)].v").find([{"v": 2.5}]) == [2.5]


def test_missing_values_and_nulls() -> None:
    assert parse(".spec.missing").find(POD) == []
    assert parse(".status.x.y").find({"status": {"x": None}}) == []
    assert parse(".status.x").find({"status": {"x": None}}) == [None]
    with pytest.raises(JsonPathError, match="missing is not found"):
        parse(".spec.missing").find(POD, allow_missing_keys=False)


def test_star_on_a_map_is_an_error_but_dot_star_is_not() -> None:
    with pytest.raises(JsonPathError):
        parse(".metadata.labels[*]").find(POD)
    assert parse(".metadata.labels.*").find(POD) == ["web"]


def test_find_results_groups_per_action() -> None:
    path = parse_template("{.a} and {.b[*]}")
    assert path.find_results({"a": 1, "b": [2, 3]}) == [[1], [" and "], [2, 3]]
    assert path.find({"a": 1, "b": [2, 3]}) == [1, " and ", 2, 3]
