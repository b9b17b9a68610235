"""Parsing Nimbus addresses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.storm.nimbus import endpoint


def test_forms() -> None:
    assert endpoint.Endpoint.parse("nimbus") == endpoint.Endpoint("nimbus", 6627)
    assert endpoint.Endpoint.parse(" 127.0.0.1:7000 ") == endpoint.Endpoint("127.0.0.1", 7000)
    assert endpoint.Endpoint.parse("[::1]:7000") == endpoint.Endpoint("::1", 7000)
    assert endpoint.Endpoint.parse("[::1]") == endpoint.Endpoint("::1", 6627)
    assert str(endpoint.Endpoint("::1", 7000)) == "[::1]:7000"


@pytest.mark.parametrize("text", ["", ":6627", "h:0", "h:70000", "h:x", "[::1", "[::1]x", "a:b:c"])
def test_bad_addresses_are_clear_errors(text: str) -> None:
    with pytest.raises(ValueError, match="Nimbus address"):
        endpoint.Endpoint.parse(text)


@given(
    host=st.from_regex(r"[a-z0-9][a-z0-9.-]{0,40}", fullmatch=True) | st.ip_addresses().map(str),
    port=st.integers(1, 65535),
)
def test_str_and_parse_round_trip(host: str, port: int) -> None:
    address = endpoint.Endpoint(host, port)
    assert endpoint.Endpoint.parse(str(address)) == address
