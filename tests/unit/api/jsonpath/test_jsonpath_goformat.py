"""Results printed as kubectl prints them: Go ``fmt`` for scalars, Go ``encoding/json``
for maps and lists."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.api.jsonpath import format_value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "<nil>"),
        (True, "true"),
        (3, "3"),
        (1.0, "1"),
        (0.5, "0.5"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1.5e-5, "1.5e-05"),
        (-0.0, "-0"),
        ("a<b", "a<b"),
        ({"b": 1e21, "a": [1.0, 1e-7]}, '{"a":[1,1e-7],"b":1e+21}'),
        ({"x": "<&>"}, '{"x":"\\u003c\\u0026\\u003e"}'),
        ([1e16], "[10000000000000000]"),
    ],
)
def test_format_value_matches_go(value: Any, text: str) -> None:
    assert format_value(value) == text
