"""Field selectors: parsing with escapes, matching, transform, Go-exact errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.api.fields import (
    FieldOperator,
    FieldRequirement,
    FieldSelector,
    FieldSelectorError,
    escape_value,
    parse,
    unescape_value,
)


@pytest.mark.parametrize(
    ("text", "canonical", "requirements"),
    [
        ("", "", []),
        (",", "", []),
        ("=", "", []),
        ("!=", "", []),
        ("metadata.name=foo", "metadata.name=foo", [("metadata.name", "=", "foo")]),
        ("metadata.name==foo", "metadata.name=foo", [("metadata.name", "=", "foo")]),
        ("status.phase!=Running", "status.phase!=Running", [("status.phase", "!=", "Running")]),
        ("a=", "a=", [("a", "=", "")]),
        ("=x", "=x", [("", "=", "x")]),
        ("b=1,a=2", "a=2,b=1", [("a", "=", "2"), ("b", "=", "1")]),
        ("a=1,,b=2,", "a=1,b=2", [("a", "=", "1"), ("b", "=", "2")]),
        (r"a=x\,y", r"a=x\,y", [("a", "=", "x,y")]),
        (r"a=x\=y", r"a=x\=y", [("a", "=", "x=y")]),
        (r"a=x\\y", r"a=x\\y", [("a", "=", "x\\y")]),
        (r"a!=\,\=\\", r"a!=\,\=\\", [("a", "!=", ",=\\")]),
        # The first operator in the term splits it; field names are not unescaped.
        ("a!b=c", "a!b=c", [("a!b", "=", "c")]),
        ("a=b!c", "a=b!c", [("a", "=", "b!c")]),
        (" a = b ", " a = b ", [(" a ", "=", " b ")]),
        ("spec.nodeName=é", "spec.nodeName=é", [("spec.nodeName", "=", "é")]),
        ("a=1,a=1", "a=1,a=1", [("a", "=", "1"), ("a", "=", "1")]),
    ],
)
def test_parse(text: str, canonical: str, requirements: list[tuple[str, str, str]]) -> None:
    selector = parse(text)
    assert str(selector) == canonical
    assert [(r.field, str(r.operator), r.value) for r in selector.requirements] == requirements
    assert parse(str(selector)) == selector
    assert selector.empty is (not requirements)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "invalid selector: 'a'; can't understand 'a'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        # Terms are checked in sorted order: "b" sorts before "c=1".
        ("c=1,b", "invalid selector: 'c=1,b'; can't understand 'b'"),
        ("a=b=c", "invalid field selector: unescapedRune character in value: 61"),
        ("a===b", "invalid field selector: unescapedRune character in value: 61"),
        (r"a=\x", r"invalid field selector: invalid escape sequence: \x"),
        (r"a=b\\\n", r"invalid field selector: invalid escape sequence: \n"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(FieldSelectorError) as info:
        parse(text)
    assert str(info.value) == message


def test_escaped_comma_is_not_a_separator() -> None:
    assert parse(r"a=1\,b\=2").requirements == (
        FieldRequirement("a", FieldOperator.EQUALS, "1,b=2"),
    )


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("", {}, True),
        ("metadata.name=a", {"metadata.name": "a"}, True),
        ("metadata.name=a", {"metadata.name": "b"}, False),
        ("metadata.name!=a", {"metadata.name": "b"}, True),
        ("metadata.name!=a", {"metadata.name": "a"}, False),
        # Missing fields compare as "" (fields.Set.Get).
        ("status.podIPs=", {}, True),
        ("status.podIPs=1.2.3.4", {}, False),
        ("status.podIPs!=1.2.3.4", {}, True),
        ("a=1,b=2", {"a": "1", "b": "2"}, True),
        ("a=1,b=2", {"a": "1", "b": "3"}, False),
        (r"a=x\,y", {"a": "x,y"}, True),
    ],
)
def test_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse(text).matches(fields) is expected


def test_fields_and_exact_match() -> None:
    selector = parse("metadata.namespace=ns,metadata.name!=x,spec.nodeName=n1")
    assert selector.fields == {"metadata.namespace", "metadata.name", "spec.nodeName"}
    assert selector.requires_exact_match("metadata.namespace") == "ns"
    assert selector.requires_exact_match("metadata.name") is None
    assert selector.requires_exact_match("other") is None
    assert FieldSelector.everything().empty
    assert repr(parse("a=b")) == "FieldSelector('a=b')"


def test_transform_renames_and_drops_like_go() -> None:
    aliases = {"spec.host": "spec.nodeName"}

    def convert(field: str, value: str) -> tuple[str, str]:
        if field == "drop":
            return "", ""
        return aliases.get(field, field), value

    selector = parse("spec.host=n1,drop=x,a!=b").transform(convert)
    assert str(selector) == "a!=b,spec.nodeName=n1"
    assert selector.matches({"spec.nodeName": "n1"})


def test_transform_propagates_errors() -> None:
    def reject(field: str, value: str) -> tuple[str, str]:
        raise ValueError(f"field label not supported: {field}")

    with pytest.raises(ValueError, match=r"^field label not supported: a$"):
        parse("a=b").transform(reject)


def test_escape_helpers() -> None:
    assert escape_value("a,b=c\\d") == r"a\,b\=c\\d"
    assert unescape_value(r"a\,b\=c\\d") == "a,b=c\\d"
    assert unescape_value("plain") == "plain"


# --- properties -----------------------------------------------------------------------------

field_names = st.from_regex(r"[A-Za-z0-9._-]{1,20}", fullmatch=True)
terms = st.tuples(field_names, st.sampled_from(["=", "==", "!="]), st.text(max_size=10))


@given(st.lists(terms, max_size=5))
def test_generated_selectors_parse_and_round_trip(
    generated: list[tuple[str, str, str]],
) -> None:
    text = ",".join(f"{f}{op}{escape_value(v)}" for f, op, v in generated)
    selector = parse(text)
    assert parse(str(selector)) == selector
    expected = sorted((f, "!=" if op == "!=" else "=", v) for f, op, v in generated)
    got = sorted((r.field, str(r.operator), r.value) for r in selector.requirements)
    assert got == expected
    values = {f: v for f, _, v in generated}
    assert selector.matches(values) is all(
        (values[f] == v) is (op != "!=") for f, op, v in generated
    )


@given(st.text())
def test_escape_round_trips(value: str) -> None:
    assert unescape_value(escape_value(value)) == value


_alphabet = st.sampled_from([*"ab.=!,\\ x", "==", "!=", "\\,", "\\="])


@given(st.one_of(st.text(), st.lists(_alphabet).map("".join)))
def test_arbitrary_text_parses_or_raises_field_selector_error(text: str) -> None:
    try:
        selector = parse(text)
    except FieldSelectorError as exc:
        assert str(exc)
    else:
        assert parse(str(selector)) == selector
