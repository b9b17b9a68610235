"""RFC 6902 JSON Patch: the RFC's appendix, RFC 6901 pointers, the evanphx/json-patch v4
leniencies kube-apiserver inherits, its error mapping, resource limits and properties."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver.errors import ApiError
from pilothouse.apiserver.patch import jsonpatch
from pilothouse.apiserver.patch.jsonpatch import INVALID_MESSAGE, PatchError, json_equal


def failure(doc: Any, ops: Any) -> str:
    """Apply, expect kube-apiserver's generic 422 and return the hidden reason."""
    with pytest.raises(ApiError) as info:
        jsonpatch.apply(doc, ops)
    err = info.value
    assert (err.code, err.reason, err.message) == (422, "Invalid", INVALID_MESSAGE)
    assert isinstance(err.__cause__, PatchError)
    return str(err.__cause__)


# -- RFC 6902 appendix A -------------------------------------------------------------------

RFC_6902_EXAMPLES = [
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
        id="A.1 add object member",
    ),
    pytest.param(
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
        id="A.2 add array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
        id="A.3 remove object member",
    ),
    pytest.param(
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
        id="A.4 remove array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
        id="A.5 replace value",
    ),
    pytest.param(
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        id="A.6 move value",
    ),
    pytest.param(
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
        id="A.7 move array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
        id="A.8 test success",
    ),
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
        id="A.10 add nested member object",
    ),
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
        id="A.11 ignore unrecognized elements",
    ),
    pytest.param(
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
        id="A.14 escape ordering",
    ),
    pytest.param(
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
        id="A.16 add array value",
    ),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), RFC_6902_EXAMPLES)
def test_rfc6902_examples(doc: Any, ops: Any, expected: Any) -> None:
    assert jsonpatch.apply(doc, ops) == expected


@pytest.mark.parametrize(
    ("doc", "ops", "reason"),
    [
        pytest.param(
            {"baz": "qux"},
            [{"op": "test", "path": "/baz", "value": "bar"}],
            "testing value /baz failed",
            id="A.9 test error",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz/bat", "value": "qux"}],
            'add operation does not apply: doc is missing path: "/baz/bat"',
            id="A.12 add to nonexistent target",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": "10"}],
            "testing value /~01 failed",
            id="A.15 string is not number",
        ),
    ],
)
def test_rfc6902_error_examples(doc: Any, ops: Any, reason: str) -> None:
    assert reason in failure(doc, ops)


RFC_6901_DOC = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("", RFC_6901_DOC),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_rfc6901_pointers(pointer: str, value: Any) -> None:
    ops = [{"op": "test", "path": pointer, "value": value}]
    assert jsonpatch.apply(RFC_6901_DOC, ops) == RFC_6901_DOC


# -- what kube-apiserver's json-patch v4 does beyond the RFC -------------------------------


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "remove", "path": "/a/-1"}], [1, 2]),
        ([{"op": "replace", "path": "/a/-3", "value": 0}], [0, 2, 3]),
        ([{"op": "add", "path": "/a/-1", "value": 4}], [1, 2, 3, 4]),
        ([{"op": "add", "path": "/a/-4", "value": 0}], [0, 1, 2, 3]),
        ([{"op": "add", "path": "/a/3", "value": 4}], [1, 2, 3, 4]),
        ([{"op": "add", "path": "/a/+1", "value": 9}], [1, 9, 2, 3]),
        ([{"op": "remove", "path": "/a/01"}], [1, 3]),
        ([{"op": "move", "from": "/a/-1", "path": "/a/0"}], [3, 1, 2]),
    ],
)
def test_array_indices_follow_strconv_atoi_and_count_back_when_negative(
    ops: list[Any], expected: list[int]
) -> None:
    assert jsonpatch.apply({"a": [1, 2, 3]}, ops) == {"a": expected}


@pytest.mark.parametrize(
    ("ops", "reason"),
    [
        ([{"op": "add", "path": "/a/4", "value": 0}], "invalid index"),
        ([{"op": "add", "path": "/a/-5", "value": 0}], "invalid index"),
        ([{"op": "remove", "path": "/a/3"}], "invalid index"),
        ([{"op": "remove", "path": "/a/-"}], 'parsing "-": invalid syntax'),
        ([{"op": "replace", "path": "/a/x", "value": 0}], 'parsing "x": invalid syntax'),
        ([{"op": "replace", "path": "/a/99999999999999999999", "value": 0}], "out of range"),
        ([{"op": "test", "path": "/a/7", "value": 0}], "invalid index"),
    ],
)
def test_bad_array_indices(ops: list[Any], reason: str) -> None:
    assert reason in failure({"a": [1, 2, 3]}, ops)


def test_replace_of_a_missing_member_adds_it() -> None:
    ops = [{"op": "replace", "path": "/metadata/labels/new", "value": "x"}]
    result = jsonpatch.apply({"metadata": {"labels": {}}}, ops)
    assert result == {"metadata": {"labels": {"new": "x"}}}


def test_missing_members_read_as_null() -> None:
    doc = {"a": 1}
    assert jsonpatch.apply(doc, [{"op": "test", "path": "/missing", "value": None}]) == doc
    assert jsonpatch.apply(doc, [{"op": "test", "path": "/missing"}]) == doc
    assert jsonpatch.apply(doc, [{"op": "copy", "from": "/missing", "path": "/b"}]) == {
        "a": 1,
        "b": None,
    }
    assert "testing value /a failed" in failure(doc, [{"op": "test", "path": "/a"}])


def test_absent_value_member_means_null() -> None:
    assert jsonpatch.apply({}, [{"op": "add", "path": "/a"}]) == {"a": None}


def test_root_pointer() -> None:
    doc = {"a": 1}
    assert jsonpatch.apply(doc, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert jsonpatch.apply(doc, [{"op": "test", "path": "", "value": {"a": 1}}]) == doc
    assert "must be object or array" in failure(doc, [{"op": "replace", "path": "", "value": 3}])
    for op in ("add", "remove"):
        assert "doc is missing path" in failure(doc, [{"op": op, "path": "", "value": {}}])


@pytest.mark.parametrize(
    ("ops", "reason"),
    [
        ([{"op": "frob", "path": "/a"}], "Unexpected kind: frob"),
        ([{"path": "/a"}], "Unexpected kind: unknown"),
        ([{"op": 1, "path": "/a"}], "Unexpected kind: unknown"),
        ([None], "Unexpected kind: unknown"),
        ([{"op": "add", "value": 1}], "add operation failed to decode path"),
        ([{"op": "move", "path": "/b"}], "move operation failed to decode from"),
        ([{"op": "add", "path": "a", "value": 1}], "doc is missing path"),
        ([{"op": "add", "path": "/x/y", "value": 1}], "doc is missing path"),
        ([{"op": "add", "path": "/a/y", "value": 1}], "doc is missing path"),
        ([{"op": "remove", "path": "/b"}], "Unable to remove nonexistent key: b"),
        ([{"op": "move", "from": "/a", "path": "/a/b"}], "missing destination path"),
        ([{"op": "copy", "from": "/x/y", "path": "/b"}], "missing from path"),
        ([{"op": "test", "path": "/x/y", "value": 1}], "is missing path"),
    ],
)
def test_operations_that_do_not_apply(ops: list[Any], reason: str) -> None:
    assert reason in failure({"a": 1}, ops)


def test_test_compares_json_values_not_python_values() -> None:
    doc = {"n": 1, "t": True, "o": {"x": [1, {"y": None}]}}
    assert jsonpatch.apply(doc, [{"op": "test", "path": "/n", "value": 1.0}]) == doc
    assert jsonpatch.apply(doc, [{"op": "test", "path": "/o", "value": copy.deepcopy(doc["o"])}])
    failure(doc, [{"op": "test", "path": "/n", "value": True}])
    failure(doc, [{"op": "test", "path": "/t", "value": 1}])
    failure(doc, [{"op": "test", "path": "/o", "value": {"x": [1, {}]}}])


def test_a_failed_test_discards_earlier_operations() -> None:
    doc = {"spec": {"replicas": 7}}
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 8},
        {"op": "test", "path": "/spec/replicas", "value": 99},
    ]
    failure(doc, ops)
    assert doc == {"spec": {"replicas": 7}}


# -- decoding and limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (["add"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
        ([[1]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
        ([True], "json: cannot unmarshal bool into Go value of type jsonpatch.Operation"),
    ],
)
def test_malformed_patch_documents_are_bad_requests(ops: Any, message: str) -> None:
    with pytest.raises(ApiError) as info:
        jsonpatch.apply({}, ops)
    assert (info.value.code, info.value.reason, info.value.message) == (400, "BadRequest", message)


def test_null_patch_is_empty() -> None:
    assert jsonpatch.apply({"a": 1}, None) == {"a": 1}
    assert jsonpatch.apply({"a": 1}, []) == {"a": 1}


def test_operation_count_is_capped() -> None:
    test_op = {"op": "test", "path": "/a", "value": 1}
    assert jsonpatch.apply({"a": 1}, [test_op] * jsonpatch.MAX_OPERATIONS) == {"a": 1}
    with pytest.raises(ApiError) as info:
        jsonpatch.apply({"a": 1}, [test_op] * (jsonpatch.MAX_OPERATIONS + 1))
    assert info.value.code == 413
    assert info.value.reason == "RequestEntityTooLarge"
    assert info.value.message == (
        "Request entity too large: The allowed maximum operations in a JSON patch is 10000, "
        "got 10001"
    )


def test_copies_are_capped_by_accumulated_size() -> None:
    doc = {"blob": "x" * (1024 * 1024)}
    ops = [{"op": "copy", "from": "/blob", "path": f"/c{i}"} for i in range(2)]
    assert len(jsonpatch.apply(doc, ops)) == 3
    ops = [{"op": "copy", "from": "/blob", "path": f"/c{i}"} for i in range(3)]
    assert "accumulated size increase of copy" in failure(doc, ops)


def test_nesting_is_capped() -> None:
    deep: Any = {}
    for _ in range(jsonpatch.MAX_DEPTH):
        deep = {"d": deep}
    assert "nested more than" in failure({}, [{"op": "add", "path": "/x", "value": deep}])
    grow = [{"op": "copy", "from": "/a", "path": "/a/a"}] * jsonpatch.MAX_DEPTH
    assert "nested more than" in failure({"a": {}}, grow)
    sink = [
        {"op": "add", "path": "/b", "value": {}},
        {"op": "move", "from": "/a", "path": "/b/a"},
        {"op": "move", "from": "/b", "path": "/a"},
    ]
    assert "nested more than" in failure({"a": {}}, sink * jsonpatch.MAX_DEPTH)
    assert jsonpatch.apply({"a": {}}, sink * 3) == {"a": {"a": {"a": {"a": {}}}}}


def test_scalar_documents_cannot_be_patched() -> None:
    failure(3, [{"op": "add", "path": "/a", "value": 1}])


# -- purity and properties -----------------------------------------------------------------


def test_inputs_are_not_mutated_and_results_share_nothing() -> None:
    doc = {"meta": {"labels": {"a": "1"}}, "list": [{"x": 1}], "untouched": {"k": "v"}}
    value = {"nested": ["v"]}
    ops = [
        {"op": "add", "path": "/meta/labels/b", "value": value},
        {"op": "move", "from": "/list/0", "path": "/moved"},
        {"op": "copy", "from": "/untouched", "path": "/copied"},
    ]
    doc_before, ops_before = copy.deepcopy(doc), copy.deepcopy(ops)
    result = jsonpatch.apply(doc, ops)
    assert doc == doc_before and ops == ops_before
    result["untouched"]["k"] = "changed"
    result["copied"]["k"] = "changed too"
    result["meta"]["labels"]["b"]["nested"].append("more")
    assert doc == doc_before and ops == ops_before


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@given(st.text(max_size=12), st.integers())
def test_any_member_name_round_trips_through_a_pointer(name: str, value: int) -> None:
    pointer = "/" + escape(name)
    result = jsonpatch.apply({}, [{"op": "add", "path": pointer, "value": value}])
    assert result == {name: value}
    assert jsonpatch.apply(result, [{"op": "test", "path": pointer, "value": value}]) == result


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)
TOKENS = st.sampled_from(["a", "b", "0", "1", "-", "-1", "+0", "9", "~0", "~1", "~", ""])
POINTERS = st.lists(TOKENS | st.text(max_size=3), max_size=4).map(
    lambda tokens: "".join("/" + t for t in tokens)
) | st.sampled_from(["", "a", "a/b"])
OPS = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]) | JSON_VALUES},
    optional={"path": POINTERS | JSON_VALUES, "from": POINTERS, "value": JSON_VALUES},
)
DOCS = st.dictionaries(st.sampled_from(["a", "b", "0", "~", "/"]), JSON_VALUES, max_size=4)


@given(DOCS | JSON_VALUES, st.lists(OPS | JSON_VALUES, max_size=6) | JSON_VALUES)
def test_arbitrary_patches_only_ever_fail_with_api_errors(doc: Any, ops: Any) -> None:
    doc_before, ops_before = copy.deepcopy(doc), copy.deepcopy(ops)
    try:
        jsonpatch.apply(doc, ops)
    except ApiError as err:
        assert err.code in (400, 422)
    assert json_equal(doc, doc_before) and json_equal(ops, ops_before)


@given(DOCS, st.lists(OPS, max_size=6))
def test_applying_in_two_halves_equals_applying_at_once(doc: Any, ops: list[Any]) -> None:
    half = len(ops) // 2
    try:
        whole = jsonpatch.apply(doc, ops)
    except ApiError:
        return
    assert json_equal(jsonpatch.apply(jsonpatch.apply(doc, ops[:half]), ops[half:]), whole)
