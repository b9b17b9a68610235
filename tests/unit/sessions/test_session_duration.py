"""Go-style duration parsing: known values, clear errors, and properties over generated
durations (round trip with the formatter, additivity of terms, the schema pattern agrees
with the parser)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.sessions import duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("2h45m30.5s", 9930.5),
        ("100ms", 0.1),
        ("1us", 1e-6),
        ("1µs", 1e-6),
        ("1ns", 1e-9),
        ("1m1m", 120.0),
    ],
)
def test_known_values(text: str, seconds: float) -> None:
    assert duration.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration"),
        ("30", "missing unit after '30'"),
        ("1h30", "missing unit after '30'"),
        ("5d", "unknown unit 'd'"),
        ("-5m", "must not have a sign"),
        ("+5m", "must not have a sign"),
        ("m", "expected a number at 'm'"),
        ("5 m", "unknown unit ' m'"),
        ("1.h2", "missing unit after '2'"),
        ("999999999999h", "longer than Go's maximum"),
    ],
)
def test_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(duration.DurationError, match=re.escape(message)):
        duration.parse_duration(text)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(duration.DurationError, match="must be a string"):
        duration.parse_duration(30)  # type: ignore[arg-type]


UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
terms = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10_000), st.sampled_from(sorted(UNITS))),
    min_size=1,
    max_size=5,
)


@given(terms)
def test_terms_add_up(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    expected = sum(n * UNITS[unit] for n, unit in parts)
    assert duration.parse_duration(text) == pytest.approx(expected)
    assert re.fullmatch(duration.PATTERN, text)


@given(st.integers(min_value=0, max_value=10**10))
def test_format_round_trips_milliseconds(millis: int) -> None:
    text = duration.format_duration(millis / 1000)
    assert duration.parse_duration(text) == pytest.approx(millis / 1000)


@given(st.text(alphabet="0123456789.hmsunµd+- ", max_size=10))
def test_the_schema_pattern_accepts_exactly_what_the_parser_accepts(text: str) -> None:
    matches = re.fullmatch(duration.PATTERN, text) is not None
    try:
        duration.parse_duration(text)
    except duration.DurationError as exc:
        # Every refusal explains itself; the pattern cannot know Go's maximum.
        assert str(exc).startswith(("invalid duration", "empty duration"))
        assert matches == ("longer than Go's maximum" in str(exc))
    else:
        assert matches
