"""Continue tokens and list resourceVersion rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver import errors
from pilothouse.apiserver.rest import reads


@given(st.integers(0, 2**62), st.text(max_size=30), st.text(max_size=60))
def test_continue_round_trip(rv: int, ns: str, name: str) -> None:
    assert reads.decode_continue(reads.encode_continue(rv, ns, name)) == (rv, (ns, name))


@given(st.text(max_size=80))
def test_bad_continue_is_400(token: str) -> None:
    try:
        reads.decode_continue(token)
    except errors.ApiError as exc:
        assert exc.code == 400


def test_limit_parsing() -> None:
    assert reads.parse_limit({}) == 0
    assert reads.parse_limit({"limit": "5"}) == 5
    with pytest.raises(errors.ApiError):
        reads.parse_limit({"limit": "five"})
