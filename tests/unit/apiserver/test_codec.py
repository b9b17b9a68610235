"""Request body decoding: strict, bounded, and never anything but ApiError on bad input."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver import codec, errors

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
def test_json_round_trip(value: object) -> None:
    assert codec.decode(orjson.dumps(value), "application/json") == value


@given(
    st.binary(max_size=300),
    st.sampled_from(
        ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
    ),
)
def test_garbage_is_a_bad_request(body: bytes, content_type: str) -> None:
    try:
        codec.decode(body, content_type)
    except errors.ApiError as exc:
        assert exc.code in (400, 413)


def test_limits_and_yaml_safety() -> None:
    with pytest.raises(errors.ApiError) as exc:
        codec.decode(b"{" + b" " * codec.MAX_BODY + b"}", "application/json")
    assert exc.value.code == 413
    with pytest.raises(errors.ApiError) as exc:
        codec.decode(b"[" * 200 + b"]" * 200, "application/json")
    assert exc.value.code == 400
    with pytest.raises(errors.ApiError) as exc:
        codec.decode(b"a: &x [1]\nb: *x\n", "application/yaml")
    assert exc.value.code == 400 and "aliases" in exc.value.message
    assert codec.decode(b"a: 1\nb: [x, y]\n", "application/yaml") == {"a": 1, "b": ["x", "y"]}
    with pytest.raises(errors.ApiError):
        codec.decode_object(b"[1]", "application/json")
