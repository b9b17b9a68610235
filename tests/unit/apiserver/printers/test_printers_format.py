"""Cell formatting: ``duration.HumanDuration``, timestamps and ages, label maps and label
selectors as ``k8s.io/apimachinery`` prints them."""

from __future__ import annotations

from typing import Any

import pytest
from printer_rows import NOW, ago

from pilothouse.apiserver import printers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1.9, "0s"),
        (0, "0s"),
        (1, "1s"),
        (70, "70s"),
        (119.9, "119s"),
        (120, "2m"),
        (190, "3m10s"),
        (599, "9m59s"),
        (600, "10m"),
        (70 * 60, "70m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 15 * 60, "3h15m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (49 * 3600, "2d1h"),
        ((8 * 24 + 2) * 3600, "8d"),
        (367 * 24 * 3600, "367d"),
        ((365 * 2 * 24 + 25) * 3600, "2y1d"),
        (365 * 2 * 24 * 3600, "2y"),
        ((365 * 8 * 24 + 2) * 3600, "8y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert printers.human_duration(seconds) == text


def test_since_and_parse_time() -> None:
    assert printers.since(ago(seconds=5), NOW) == "5s"
    assert printers.since("2024-05-01T13:00:00+02:00", NOW) == "60m"  # 11:00Z
    assert printers.since("2024-05-01T11:59:58.123456Z", NOW) == "1s"
    assert printers.since(None, NOW) == "<unknown>"
    assert printers.since("yesterday", NOW) == "<unknown>"
    assert printers.parse_time("2024-02-30T00:00:00Z") is None
    naive = NOW.replace(tzinfo=None)
    assert printers.since(ago(minutes=3), naive) == "3m"


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        (None, "<none>"),
        ({}, "<none>"),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "k", "operator": "NotIn", "values": ["x"]},
                    {"key": "e", "operator": "Exists"},
                    {"key": "f", "operator": "DoesNotExist"},
                ]
            },
            "e,!f,k notin (x)",
        ),
        ({"matchExpressions": [{"key": "k", "operator": "In"}]}, "<error>"),
        ({"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]}, "<error>"),
        ({"matchLabels": {"bad key": "v"}}, "<error>"),
        ({"matchLabels": {"example.com/app": "-bad"}}, "<error>"),
    ],
)
def test_format_selector(selector: Any, text: str) -> None:
    assert printers.format_selector(selector) == text


def test_format_labels() -> None:
    assert printers.format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert printers.format_labels(None) == "<none>"
