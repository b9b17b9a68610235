"""Go-style rendering of values in error messages (``fmt`` and ``encoding/json``)."""

from __future__ import annotations

import pytest

from pilothouse.apiserver.structural import gorender


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
        (float("inf"), "+Inf"),
    ],
)
def test_go_float(value: float, shown: str) -> None:
    assert gorender.go_float(value) == shown


def test_go_rendering() -> None:
    assert gorender.go_quote('a"b\n\x01é') == '"a\\"b\\n\\x01é"'
    assert (
        gorender.go_json({"b": 1.0, "a": [True, None, "<"]}) == '{"a":[true,null,"\\u003c"],"b":1}'
    )
    assert gorender.go_json(1e21) == "1e+21"
    assert (
        gorender.go_value({"k": [1, None]})
        == 'map[string]interface {}{"k":[]interface {}{1, interface {}(nil)}}'
    )
    assert gorender.go_value(None) == '"null"'
