"""The quantity and cron helpers behind built-in defaulting and validation."""

from __future__ import annotations

import contextlib
import decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.api import quantity as _quantity
from pilothouse.apiserver.builtin._cron import CronError, parse_standard
from pilothouse.apiserver.builtin._util import go_label_selector, go_string_map, prune_zero


@pytest.mark.parametrize(
    ("given_text", "canonical"),
    [
        # The examples of the Kubernetes "Resource units" documentation, and friends.
        ("128974848", "128974848"),
        ("129e6", "129e6"),
        ("129M", "129M"),
        ("123Mi", "123Mi"),
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),
        ("2000", "2k"),
        ("1500", "1500"),
        ("1n", "1m"),
        (".5", "500m"),
        ("+1", "1"),
        ("12e-1", "1200e-3"),
        (0.25, "250m"),
        (3, "3"),
    ],
)
def test_canonical_quantities(given_text: object, canonical: str) -> None:
    assert _quantity.canonical(given_text) == canonical


@pytest.mark.parametrize("bad", ["", "abc", "1Z", ".", "1.2.3", True, None])
def test_unparseable_quantities(bad: object) -> None:
    assert _quantity.canonical(bad) is None


SUFFIXES = ["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "e3", "E2", "e-2"]


@given(
    number=st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, places=3),
    suffix=st.sampled_from(SUFFIXES),
)
def test_canonical_form_is_stable_and_keeps_the_value(number: decimal.Decimal, suffix: str) -> None:
    text = f"{number}{suffix}"
    parsed = _quantity.parse(text)
    assert parsed is not None
    canonical = _quantity.canonical(text)
    assert canonical is not None
    again = _quantity.parse(canonical)
    assert again is not None
    assert again.value == parsed.rounded_to_milli().value
    assert _quantity.canonical(canonical) == canonical


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("0 24 * * *", "end of range (24) above maximum (23): 24"),
        ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("1/2/3 * * * *", "too many slashes: 1/2/3"),
        ("-1 * * * *", 'failed to parse int from : strconv.Atoi: parsing "": invalid syntax'),
        (
            "@every forever",
            'failed to parse duration @every forever: time: invalid duration "forever"',
        ),
    ],
)
def test_cron_errors_use_the_library_wording(spec: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        parse_standard(spec)
    assert str(info.value) == message


@given(st.text(alphabet="0123456789*/-,? @abcdefghijklmnopqrstuvwxyz", max_size=30))
def test_cron_parser_only_raises_cron_errors(spec: str) -> None:
    with contextlib.suppress(CronError):
        parse_standard(spec)


def test_go_renderings() -> None:
    assert go_string_map({"b": "2", "a": "1"}) == 'map[string]string{"a":"1", "b":"2"}'
    assert go_string_map(None) == "map[string]string(nil)"
    selector = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}
    assert go_label_selector(selector) == (
        "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:"
        '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"tier", Operator:"In", '
        'Values:[]string{"a"}}}}'
    )


def test_prune_zero_treats_omitted_and_zero_values_alike() -> None:
    pruned = prune_zero({"a": False, "b": [], "c": {"d": ""}, "e": 1, "f": [0, None], "g": 0})
    assert pruned == {"e": 1, "f": [0, None]}
