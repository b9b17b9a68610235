"""Label selectors: string parsing, matching, LabelSelector conversion, Go-exact errors."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.api.labels import (
    Operator,
    Requirement,
    Selector,
    SelectorError,
    equality_labels,
    from_label_selector,
    parse,
)

NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
OPERATORS = "in, notin, =, ==, !=, gt, lt"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("  a  =  b  ", "a=b"),
        ("\ta\n=\rb", "a=b"),
        ("a=", "a="),
        ("a=,b", "a=,b"),
        ("x", "x"),
        ("!x", "!x"),
        ("! x", "!x"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("x in (b, a, b)", "x in (a,b)"),
        ("x in (,a)", "x in (,a)"),
        ("x in (a,)", "x in (,a)"),
        ("x in (,)", "x in ()"),
        ("x in (in)", "x in (in)"),
        ("in in (in, notin)", "in in (in,notin)"),
        ("notin notin (x)", "notin notin (x)"),
        ("a=in", "a=in"),
        ("z=1,a=2,m", "a=2,m,z=1"),
        ("a>1", "a>1"),
        ("a < 10", "a<10"),
        ("app.kubernetes.io/name=web", "app.kubernetes.io/name=web"),
        ("Example.com.Key", "Example.com.Key"),
        # The lexer treats NUL as the end of input, like Go's byte 0.
        ("\x00a=b", ""),
        ("a=b\x00", "a=b"),
    ],
)
def test_parse_canonical(text: str, canonical: str) -> None:
    selector = parse(text)
    assert str(selector) == canonical
    assert parse(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", f"unable to parse requirement: found 'b', expected: {OPERATORS}"),
        ("a !b", f"unable to parse requirement: found '!', expected: {OPERATORS}"),
        ("a>=1", "unable to parse requirement: found '=', expected: identifier"),
        ("a=>b", "unable to parse requirement: found '>', expected: identifier"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("a in", "unable to parse requirement: found '' expected: '('"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        # Go's list parser consumes ",," and then insists on a value.
        ("a in (,,)", "unable to parse requirement: found ')', expected: ',', or identifier"),
        ("a in (b,,)", "unable to parse requirement: found ')', expected: ',', or identifier"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        (
            "_a=1",
            f'unable to parse requirement: <nil>: Invalid value: "_a": {NAME_PART}',
        ),
        (
            "a=-b",
            f'unable to parse requirement: values[0][a]: Invalid value: "-b": {LABEL_VALUE}',
        ),
        (
            "a=" + "v" * 64,
            'unable to parse requirement: values[0][a]: Invalid value: "'
            + "v" * 64
            + '": must be no more than 63 characters',
        ),
        (
            "a>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a>99999999999999999999",
            'unable to parse requirement: values[0]: Invalid value: "99999999999999999999": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a>-1",
            f'unable to parse requirement: values[0][a]: Invalid value: "-1": {LABEL_VALUE}',
        ),
        (
            "a in (-x, -y)",
            "unable to parse requirement: ["
            f'values[0][a]: Invalid value: "-x": {LABEL_VALUE}, '
            f'values[1][a]: Invalid value: "-y": {LABEL_VALUE}]',
        ),
        (
            "a/b/c",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name '
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
            "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an "
            "optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ),
        (
            "/a",
            'unable to parse requirement: <nil>: Invalid value: "/a": '
            "prefix part must be non-empty",
        ),
        (
            "Example.com/a",
            'unable to parse requirement: <nil>: Invalid value: "Example.com/a": prefix part a '
            "lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
            "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
            "[a-z0-9])?)*')",
        ),
        (
            "a/",
            'unable to parse requirement: <nil>: Invalid value: "a/": '
            f"name part must be non-empty; {NAME_PART}",
        ),
        (
            "é=1",
            f'unable to parse requirement: <nil>: Invalid value: "é": {NAME_PART}',
        ),
        (
            "a\x01=1",
            f'unable to parse requirement: <nil>: Invalid value: "a\\x01": {NAME_PART}',
        ),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", None, True),
        ("", {"a": "b"}, True),
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=b", {}, False),
        ("a=b", None, False),
        ("a==b", {"a": "b"}, True),
        ("a=", {"a": ""}, True),
        ("a=", {}, False),
        ("a!=b", {}, True),
        ("a!=b", None, True),
        ("a!=b", {"a": "b"}, False),
        ("a!=b", {"a": "c"}, True),
        ("a in (x,y)", {"a": "y"}, True),
        ("a in (x,y)", {"a": "z"}, False),
        ("a in (x,y)", {}, False),
        ("a in ()", {"a": ""}, True),
        ("a notin (x)", {}, True),
        ("a notin (x)", {"a": "x"}, False),
        ("a notin (x)", {"a": "y"}, True),
        ("a", {"a": ""}, True),
        ("a", {"b": "a"}, False),
        ("!a", {}, True),
        ("!a", None, True),
        ("!a", {"a": "x"}, False),
        ("a>1", {"a": "2"}, True),
        ("a>1", {"a": "1"}, False),
        ("a>1", {"a": "x"}, False),
        ("a>1", {"a": " 2"}, False),
        ("a>1", {"a": "1_0"}, False),
        ("a>1", {}, False),
        ("a<1", {"a": "-5"}, True),
        ("a<1", {"a": "+0"}, True),
        ("a=b,c", {"a": "b", "c": "d"}, True),
        ("a=b,c", {"a": "b"}, False),
    ],
)
def test_matches(text: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert parse(text).matches(labels) is expected


def test_everything_nothing_and_empty() -> None:
    assert Selector.everything().empty
    assert Selector.everything().matches(None)
    nothing = Selector.nothing()
    assert not nothing.empty
    assert not nothing.matches({})
    assert not nothing.matches(None)
    assert str(nothing) == ""
    assert nothing != Selector.everything()
    assert repr(nothing) == "Selector.nothing()"
    assert repr(parse("a=b")) == "Selector('a=b')"
    assert not parse("a").empty


def test_selector_is_hashable_and_order_insensitive() -> None:
    assert parse("b=1,a in (y,x)") == parse("a in (x,y),b=1")
    assert len({parse("a=b"), parse(" a = b "), parse("a==b")}) == 2
    assert parse("a=b").requirements == (Requirement("a", Operator.EQUALS, ("b",)),)
    # The string operator spelling is accepted and normalised to the enum.
    assert Requirement("a", "in", ("b",)).operator is Operator.IN  # type: ignore[arg-type]


def test_same_key_requirements_keep_their_order() -> None:
    selector = parse("b,a!=x,a")
    assert str(selector) == "a!=x,a,b"


def test_requires_exact_match_and_equality_labels() -> None:
    selector = parse("a=1,b in (2),c in (3,4),d!=5,e==6,f")
    assert selector.requires_exact_match("a") == "1"
    assert selector.requires_exact_match("b") == "2"
    assert selector.requires_exact_match("c") is None
    assert selector.requires_exact_match("d") is None
    assert selector.requires_exact_match("zz") is None
    assert equality_labels(selector) == {"a": "1", "b": "2", "e": "6"}
    assert equality_labels(Selector.nothing()) == {}
    assert equality_labels(parse("a=1,a=2")) == {"a": "1"}


def test_from_set() -> None:
    selector = Selector.from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})
    assert Selector.from_set({}).empty


def test_requirement_create_validates() -> None:
    assert str(Requirement.create("a", Operator.IN, ["y", "x"])) == "a in (x,y)"
    with pytest.raises(SelectorError, match=r"^values: Invalid value: null: for 'in'"):
        Requirement.create("a", Operator.IN, [])
    with pytest.raises(SelectorError) as info:
        Requirement.create("a", Operator.EQUALS, ["x", "y"])
    assert str(info.value) == (
        'values: Invalid value: ["x","y"]: exact-match compatibility requires one single value'
    )
    with pytest.raises(SelectorError) as info:
        Requirement.create("a", Operator.GREATER_THAN, [])
    assert str(info.value) == (
        "values: Invalid value: null: for 'Gt', 'Lt' operators, exactly one value is required"
    )


# --- metav1.LabelSelector -------------------------------------------------------------------


def test_from_label_selector_nil_and_empty() -> None:
    assert from_label_selector(None) == Selector.nothing()
    assert from_label_selector({}).empty
    assert from_label_selector({"matchLabels": {}, "matchExpressions": []}).empty
    assert from_label_selector({"matchLabels": None}).empty


@pytest.mark.parametrize(
    ("obj", "canonical"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                    {"key": "gpu", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist", "values": []},
                ],
            },
            "app=web,env notin (dev),gpu,!legacy,tier in (be,fe)",
        ),
        # Go neither sorts away nor deduplicates LabelSelector values; String() sorts them.
        (
            {"matchExpressions": [{"key": "x", "operator": "In", "values": ["b", "a", "b"]}]},
            "x in (a,b,b)",
        ),
    ],
)
def test_from_label_selector(obj: dict[str, object], canonical: str) -> None:
    assert str(from_label_selector(obj)) == canonical


def test_from_label_selector_matches_like_the_string_form() -> None:
    selector = from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}],
        }
    )
    assert selector == parse("app=web,env notin (dev)")
    assert selector.matches({"app": "web"})
    assert not selector.matches({"app": "web", "env": "dev"})


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"matchExpressions": [{"key": "x", "operator": "In"}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "x", "operator": "In", "values": []}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "x", "operator": "Exists", "values": ["a"]}]},
            'values: Invalid value: ["a"]: values set must be empty for exists and does not exist',
        ),
        (
            {"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "x", "operator": "in", "values": ["1"]}]},
            '"in" is not a valid label selector operator',
        ),
        ({"matchExpressions": [{"key": "x"}]}, '"" is not a valid label selector operator'),
        ({"matchLabels": {"a b": "c"}}, f'key: Invalid value: "a b": {NAME_PART}'),
        ({"matchLabels": {"a": "b c"}}, f'values[0][a]: Invalid value: "b c": {LABEL_VALUE}'),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["ok", "-x"]}]},
            f'values[1][a]: Invalid value: "-x": {LABEL_VALUE}',
        ),
        (
            {"matchExpressions": [{"key": "", "operator": "Exists"}]},
            f'key: Invalid value: "": name part must be non-empty; {NAME_PART}',
        ),
        ({"matchLabels": {"a": 1}}, "matchLabels must map strings to strings"),
        ({"matchLabels": ["a"]}, "matchLabels must map strings to strings"),
        ({"matchExpressions": {"a": 1}}, "matchExpressions must be a list"),
        ({"matchExpressions": ["a"]}, "a matchExpressions entry must be an object"),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]},
            "matchExpressions values must be strings",
        ),
        (
            {"matchExpressions": [{"key": 1, "operator": "Exists"}]},
            "a matchExpressions entry needs a string key and a list of values",
        ),
    ],
)
def test_from_label_selector_errors(obj: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError) as info:
        from_label_selector(obj)
    assert str(info.value) == message


# --- properties -----------------------------------------------------------------------------

_dns_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
_prefix = st.lists(_dns_label, min_size=1, max_size=3).map(".".join)
_name = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,12}[A-Za-z0-9])?", fullmatch=True)
keys = st.one_of(_name, st.builds(lambda p, n: f"{p}/{n}", _prefix, _name))
values = st.one_of(
    st.just(""), st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,12}[A-Za-z0-9])?", fullmatch=True)
)
_ws = st.sampled_from(["", " ", "  ", "\t", "\n", "\r"])
_ws1 = st.sampled_from([" ", "\t", " \n "])


@st.composite
def requirements(draw: st.DrawFn) -> tuple[str, str, str, frozenset[str]]:
    """A valid requirement as (text, key, operator, value set) with random whitespace."""
    key = draw(keys)
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", ">", "<"]))
    w = [draw(_ws) for _ in range(4)]
    if op == "exists":
        return f"{w[0]}{key}{w[1]}", key, op, frozenset()
    if op == "!":
        return f"{w[0]}!{w[1]}{key}{w[2]}", key, op, frozenset()
    if op in ("in", "notin"):
        vals = draw(st.lists(values, max_size=4))
        if vals[-2:] == ["", ""] and len(vals) > 2:
            # Go rejects a list ending in ",,)" (see test_parse_errors); keep this one valid.
            vals[-1] = "z"
        inner = ("," + w[2]).join(vals)
        text = f"{w[0]}{key}{draw(_ws1)}{op}{w[1]}({inner}){w[3]}"
        return text, key, op, frozenset(vals) if vals else frozenset({""})
    if op in (">", "<"):
        value = str(draw(st.integers(0, 2**63 - 1)))
    else:
        value = draw(values)
    return f"{w[0]}{key}{w[1]}{op}{w[2]}{value}{w[3]}", key, op, frozenset({value})


def _model_matches(op: str, key: str, vals: frozenset[str], labels: dict[str, str]) -> bool:
    present = key in labels
    if op in ("=", "==", "in"):
        return present and labels[key] in vals
    if op in ("!=", "notin"):
        return not present or labels[key] not in vals
    if op == "exists":
        return present
    if op == "!":
        return not present
    (bound,) = vals
    # strconv.ParseInt, not int(): no underscores, no surrounding spaces.
    if not present or not re.fullmatch(r"[+-]?[0-9]+", labels[key]):
        return False
    actual = int(labels[key])
    return actual > int(bound) if op == ">" else actual < int(bound)


@given(
    st.lists(requirements(), max_size=5),
    st.dictionaries(keys, st.one_of(values, st.integers(-5, 5).map(str)), max_size=4),
)
def test_generated_selectors_parse_round_trip_and_match(
    reqs: list[tuple[str, str, str, frozenset[str]]], labels: dict[str, str]
) -> None:
    selector = parse(",".join(text for text, *_ in reqs))
    assert parse(str(selector)) == selector
    assert str(parse(str(selector))) == str(selector)
    assert len(selector.requirements) == len(reqs)
    # Keys of the labels under test are drawn independently; also test the generated keys.
    for _, key, _, vals in reqs:
        labels.setdefault(key, next(iter(sorted(vals)), "x"))
    expected = all(_model_matches(op, key, vals, labels) for _, key, op, vals in reqs)
    assert selector.matches(labels) is expected


_selector_alphabet = st.sampled_from([*"ab/.-_=!(),<> \t0123456789", "in", "notin", "\x00"])


@given(st.one_of(st.text(), st.lists(_selector_alphabet).map("".join)))
def test_arbitrary_text_parses_or_raises_selector_error(text: str) -> None:
    try:
        selector = parse(text)
    except SelectorError as exc:
        assert str(exc)
    else:
        assert parse(str(selector)) == selector


@given(
    st.dictionaries(keys, values, max_size=4),
    st.lists(
        st.fixed_dictionaries(
            {
                "key": keys,
                "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
            }
        ),
        max_size=3,
    ),
    st.lists(values, min_size=1, max_size=3),
)
def test_from_label_selector_agrees_with_the_string_form(
    match_labels: dict[str, str], exprs: list[dict[str, str]], vals: list[str]
) -> None:
    expressions: list[dict[str, object]] = [
        {**e, "values": sorted(set(vals))} if e["operator"] in ("In", "NotIn") else dict(e)
        for e in exprs
    ]
    selector = from_label_selector({"matchLabels": match_labels, "matchExpressions": expressions})
    if match_labels or expressions:
        assert parse(str(selector)) == selector
    else:
        assert selector.empty
