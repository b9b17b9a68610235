"""The sessions operator's configuration from the environment: the idle grace period is a
Go duration, 60 s when unset, and a bad value is a clear error naming the variable."""

from __future__ import annotations

import pytest

from pilothouse.operators.sessions import lifecycle, operator


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("", lifecycle.DEFAULT_IDLE_GRACE),
        ("  ", lifecycle.DEFAULT_IDLE_GRACE),
        ("0", 0.0),
        ("1.5s", 1.5),
        ("2m", 120.0),
    ],
)
def test_idle_grace_from_the_environment(text: str, seconds: float) -> None:
    assert operator._idle_grace(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5s", "5"])
def test_a_bad_idle_grace_names_the_variable(text: str) -> None:
    with pytest.raises(ValueError, match=operator.ENV_IDLE_GRACE):
        operator._idle_grace(text)
