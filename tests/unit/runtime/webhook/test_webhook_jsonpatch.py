"""JSON Patch generation: applying ``diff(a, b)`` to ``a`` gives ``b``, checked with a strict
RFC 6902 applier written here and with the API server's own applier."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.apiserver.patch import jsonpatch as server_patch
from pilothouse.runtime.webhook import jsonpatch


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    assert path.startswith("/"), path
    tokens = [jsonpatch.unescape(t) for t in path[1:].split("/")]
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, list):
            assert token.isdigit() and int(token) < len(node), (path, token)
            node = node[int(token)]
        else:
            assert isinstance(node, dict) and token in node, (path, token)
            node = node[token]
    return node, tokens[-1]


def strict_apply(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add/remove/replace with every precondition checked (no lenient cases)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        value = copy.deepcopy(op.get("value"))
        if op["path"] == "":
            assert op["op"] == "replace"
            doc = value
            continue
        parent, key = _parent(doc, op["path"])
        if isinstance(parent, list):
            assert key.isdigit() and str(int(key)) == key, key
            index = int(key)
            if op["op"] == "add":
                assert index <= len(parent)
                parent.insert(index, value)
            else:
                assert index < len(parent)
                if op["op"] == "remove":
                    del parent[index]
                else:
                    parent[index] = value
        else:
            assert isinstance(parent, dict)
            if op["op"] == "add":
                parent[key] = value
            else:
                assert key in parent, (op, parent)
                if op["op"] == "remove":
                    del parent[key]
                else:
                    parent[key] = value
    return doc


_keys = st.text(alphabet="ab~/0 1", max_size=4)
_scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.text(alphabet="xy~/", max_size=3)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=20,
)
_objects = st.dictionaries(_keys, _json, max_size=6)


@settings(max_examples=400, deadline=None)
@given(_json, _json)
def test_webhook_diff_applies_to_any_pair(a: Any, b: Any) -> None:
    ops = jsonpatch.diff(a, b)
    assert jsonpatch.json_equal(strict_apply(a, ops), b)


@settings(max_examples=300, deadline=None)
@given(_objects, _objects)
def test_webhook_diff_agrees_with_server_applier(a: dict[str, Any], b: dict[str, Any]) -> None:
    ops = jsonpatch.diff(a, b)
    assert jsonpatch.json_equal(server_patch.apply(a, ops), b)


@given(_json)
def test_webhook_diff_of_equal_values_is_empty(a: Any) -> None:
    assert jsonpatch.diff(a, copy.deepcopy(a)) == []


@given(st.lists(_scalars, max_size=6), st.integers(0, 6), _scalars)
def test_webhook_diff_single_insertion_is_one_add(items: list[Any], at: int, new: Any) -> None:
    at = min(at, len(items))
    mutated = [*items[:at], new, *items[at:]]
    ops = jsonpatch.diff({"l": items}, {"l": mutated})
    assert len(ops) == 1 and ops[0]["op"] == "add"


def test_webhook_diff_escapes_tokens() -> None:
    a = {"metadata": {"labels": {}}}
    b = {"metadata": {"labels": {"example.com/a~b": "x"}}}
    assert jsonpatch.diff(a, b) == [
        {"op": "add", "path": "/metadata/labels/example.com~1a~0b", "value": "x"}
    ]
    assert jsonpatch.unescape("example.com~1a~0b") == "example.com/a~b"
    assert jsonpatch.unescape("~01") == "~1"  # decoded ~1 first, so ~01 is "~" then "1"


def test_webhook_diff_arrays_touch_only_what_changed() -> None:
    a = {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    b = {"spec": {"containers": [{"name": "sidecar"}, {"name": "a"}, {"name": "b"}]}}
    assert jsonpatch.diff(a, b) == [
        {"op": "add", "path": "/spec/containers/0", "value": {"name": "sidecar"}}
    ]
    c = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}
    assert jsonpatch.diff(a, c) == [{"op": "add", "path": "/spec/containers/0/image", "value": "x"}]
    assert jsonpatch.diff({"l": [1, 2, 3, 4]}, {"l": [1, 4]}) == [
        {"op": "remove", "path": "/l/2"},
        {"op": "remove", "path": "/l/1"},
    ]


def test_webhook_diff_distinguishes_json_types() -> None:
    assert jsonpatch.diff({"a": 1}, {"a": True}) == [{"op": "replace", "path": "/a", "value": True}]
    assert jsonpatch.diff({"a": 1}, {"a": 1.0}) == [{"op": "replace", "path": "/a", "value": 1.0}]
    assert jsonpatch.diff({"a": [1]}, {"a": {"0": 1}}) == [
        {"op": "replace", "path": "/a", "value": {"0": 1}}
    ]
    assert jsonpatch.diff([1], {"a": 1}) == [{"op": "replace", "path": "", "value": {"a": 1}}]
