"""Parsing the kubectl JSONPath dialect, checked against client-go's ``parser_test.go``:
syntax errors with upstream's texts, quoting, and upstream's re-parsing quirks."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.api.jsonpath import JsonPathError, parse, parse_template


def render(template: str, data: Any, *, allow_missing: bool = False) -> str:
    return parse_template(template).render(data, allow_missing_keys=allow_missing)


def test_multiple_recursive_descent_is_a_syntax_error() -> None:
    with pytest.raises(JsonPathError, match="invalid multiple recursive descent"):
        parse_template("{" + "." * 60 + "Price}")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{.hello", "unclosed action"),
        ("{*}", "unrecognized character in action: U+002A '*'"),
        ("{+12.3.0}", "cannot parse number +12.3.0"),
        ("{[1}", "unterminated array"),
        ("{[?(.price]}", "unterminated filter"),
        ("{\\\\\\}", "unrecognized character in action: U+005C '\\'"),
        ("{[a]}", "invalid array index a"),
        ('{"abc}', "unterminated quoted string"),
        ("{[?(@.a==1)x}", "unclosed array expect ]"),
    ],
)
def test_parse_errors(template: str, message: str) -> None:
    with pytest.raises(JsonPathError) as err:
        parse_template(template)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("literal", "text"),
    [
        ('"()"', "()"),
        ('"(\\"\\")"', '("")'),
        ('"())("', "())("),
        ("'Linux'", "Linux"),
        ('"{[()]}"', "{[()]}"),
        ("\"''\"", "''"),
        ("'\"\"'", '""'),
        ("'\\\\\\''", "\\'"),
    ],
)
def test_filter_literals_with_quotes_and_parentheses(literal: str, text: str) -> None:
    data = {"items": [{"os": text, "n": 1}, {"os": "other", "n": 2}]}
    assert render(f"{{.items[?(@.os == {literal})].n}}", data) == "1"


def test_bracket_key_is_reparsed_as_a_path_like_upstream() -> None:
    data = {"a": {"b": 1}, "a.b": 2, "k8s.io/x": 3}
    assert parse("['a.b']").find(data) == [1]
    assert parse("['a\\.b']").find(data) == [2]
    assert parse(".k8s\\.io/x").find(data) == [3]


def test_union_of_keys_and_indexes() -> None:
    data = {"bicycle": {"price": 1}, "book": {"price": 2}}
    assert parse("['bicycle.price', 'book.price']").find(data) == [1, 2]
    assert parse("[0, 2]").find(["a", "b", "c"]) == ["a", "c"]


_ALPHABET = st.sampled_from(list("{}[]().,:*?@$'\"\\=<>!~-+0123456789 abcxyz_\t\n\r/é"))


@given(st.text(_ALPHABET, max_size=40) | st.text(max_size=40))
def test_parse_raises_only_jsonpath_errors(text: str) -> None:
    try:
        parse_template(text)
        parse(text)
    except JsonPathError:
        pass
