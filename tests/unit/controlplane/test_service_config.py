"""UpdateHashRing's ring config parsing (``service._ring_config``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.controlplane import ringmodel
from pilothouse.controlplane.ringmodel import InvalidConfigError, RingConfig, RingError
from pilothouse.controlplane.service import _ring_config


def test_empty_config_is_the_default() -> None:
    config = _ring_config({})
    assert config == RingConfig()
    assert config.vnodes_per_weight == ringmodel.DEFAULT_VNODES_PER_WEIGHT == 2048
    assert config.replication_factor == ringmodel.DEFAULT_REPLICATION_FACTOR == 3
    assert config.hash_algorithm == ringmodel.HASH_ALGORITHM_V1
    assert config.bounded_load_epsilon is None
    assert config.partitions_log2 == ringmodel.DEFAULT_PARTITIONS_LOG2 == 12


def test_fields_are_taken_and_others_default() -> None:
    config = _ring_config({"vnodes_per_weight": 16, "partitions_log2": 8})
    assert config == RingConfig(vnodes_per_weight=16, partitions_log2=8)
    assert config.replication_factor == 3


def test_every_field() -> None:
    doc = {
        "vnodes_per_weight": 32,
        "replication_factor": 5,
        "hash_algorithm": "blake2b64-v1",
        "bounded_load_epsilon": 0.25,
        "partitions_log2": 10,
    }
    assert _ring_config(doc) == RingConfig(32, 5, "blake2b64-v1", 0.25, 10)


def test_stored_form_round_trips() -> None:
    config = RingConfig(vnodes_per_weight=8, replication_factor=2, bounded_load_epsilon=0.125)
    stored = config.to_json()
    assert stored["bounded_load_epsilon_ppm"] == 125_000
    assert _ring_config(stored) == config
    assert _ring_config(orjson.loads(orjson.dumps(stored))) == config
    assert _ring_config(RingConfig().to_json()) == RingConfig()  # ppm null: plain mode


@pytest.mark.parametrize(
    ("doc", "epsilon"),
    [
        ({"bounded_load_epsilon": 0.1}, 0.1),
        ({"bounded_load_epsilon_ppm": 100_000}, 0.1),
        ({"bounded_load_epsilon_ppm": 1}, 1e-6),
        ({"bounded_load_epsilon": 1e-6}, 1e-6),
        ({"bounded_load_epsilon": 100}, 100.0),
        ({"bounded_load_epsilon_ppm": 100_000_000}, 100.0),
        ({"bounded_load_epsilon": 0.1234567}, 0.123457),  # kept at 1e-6 resolution
        ({"bounded_load_epsilon": None}, None),
        ({"bounded_load_epsilon_ppm": None}, None),
        ({"bounded_load_epsilon": None, "bounded_load_epsilon_ppm": 250_000}, 0.25),
    ],
)
def test_epsilon_forms(doc: dict[str, Any], epsilon: float | None) -> None:
    """One form or the other; both at once is refused (see test_both_epsilon_forms)."""
    config = _ring_config(doc)
    assert config.bounded_load_epsilon == epsilon
    if epsilon is not None:
        assert config.epsilon_ppm == round(epsilon * ringmodel.PPM)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 100 * ringmodel.PPM))
def test_ppm_and_epsilon_agree(ppm: int) -> None:
    a = _ring_config({"bounded_load_epsilon_ppm": ppm})
    b = _ring_config({"bounded_load_epsilon": ppm / ringmodel.PPM})
    assert a == b
    assert a.epsilon_ppm == ppm


@pytest.mark.parametrize(
    "doc",
    [
        {"vnodes": 3},
        {"replication": 3},
        {"bounded_load_epsilon_ppm": 1, "extra": True},
        {"fingerprint": "x"},
        {"VNODES_PER_WEIGHT": 8},
    ],
)
def test_unknown_fields_rejected(doc: dict[str, Any]) -> None:
    unknown = sorted(set(doc) - set(RingConfig().to_json()) - {"bounded_load_epsilon"})
    with pytest.raises(TypeError, match=f"^unknown ring config fields: {', '.join(unknown)}$"):
        _ring_config(doc)


def test_unknown_fields_listed_sorted() -> None:
    with pytest.raises(TypeError, match=r"^unknown ring config fields: a, b, c$"):
        _ring_config({"c": 1, "a": 1, "b": 1, "vnodes_per_weight": 4})


@pytest.mark.parametrize("doc", [[], None, "{}", 5, [("vnodes_per_weight", 4)]])
def test_non_object_rejected(doc: object) -> None:
    with pytest.raises(TypeError, match="ring config must be a JSON object"):
        _ring_config(doc)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"vnodes_per_weight": 0}, "vnodes_per_weight must be between 1 and 65536"),
        ({"vnodes_per_weight": 65_537}, "vnodes_per_weight must be between"),
        ({"vnodes_per_weight": 2.0}, "vnodes_per_weight must be an integer"),
        ({"vnodes_per_weight": True}, "vnodes_per_weight must be an integer"),
        ({"vnodes_per_weight": None}, "vnodes_per_weight must be an integer"),
        ({"vnodes_per_weight": "8"}, "vnodes_per_weight must be an integer"),
        ({"replication_factor": 0}, "replication_factor must be between 1 and 64"),
        ({"replication_factor": 65}, "replication_factor must be between 1 and 64"),
        ({"partitions_log2": 3}, "partitions_log2 must be between 4 and 20"),
        ({"partitions_log2": 21}, "partitions_log2 must be between 4 and 20"),
        ({"hash_algorithm": "md5"}, "unknown hash_algorithm 'md5'"),
        ({"hash_algorithm": None}, "unknown hash_algorithm None"),
        ({"bounded_load_epsilon": 0}, "bounded_load_epsilon must be between 1e-6 and 100"),
        ({"bounded_load_epsilon": -0.5}, "bounded_load_epsilon must be between"),
        ({"bounded_load_epsilon": 100.01}, "bounded_load_epsilon must be between"),
        ({"bounded_load_epsilon": 4e-7}, "bounded_load_epsilon must be between"),
        ({"bounded_load_epsilon": True}, "bounded_load_epsilon must be a number"),
        ({"bounded_load_epsilon": "0.1"}, "bounded_load_epsilon must be a number"),
        ({"bounded_load_epsilon": float("inf")}, "bounded_load_epsilon must be a number"),
        ({"bounded_load_epsilon": float("nan")}, "bounded_load_epsilon must be a number"),
        ({"bounded_load_epsilon_ppm": 0}, "bounded_load_epsilon must be between"),
        ({"bounded_load_epsilon_ppm": -1}, "bounded_load_epsilon must be between"),
        ({"bounded_load_epsilon_ppm": 100_000_001}, "bounded_load_epsilon must be between"),
    ],
)
def test_invalid_values_raise_ring_error(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfigError, match=message) as info:
        _ring_config(doc)
    assert isinstance(info.value, RingError)


def test_non_numeric_ppm_is_a_type_error() -> None:
    # UpdateHashRing turns TypeError into INVALID_ARGUMENT as well.
    with pytest.raises(TypeError):
        _ring_config({"bounded_load_epsilon_ppm": "100"})


# BUG: the stored form's ppm is an integer (RingConfig.from_json rejects a bool or a float
# ppm with InvalidTopologyError, and a bool epsilon is rejected as "must be a number"), but
# _ring_config divides whatever it gets by 1e6: true becomes 1 ppm and 1.5 becomes 2 ppm,
# silently. Correct: rejected like in the stored form (RingError, or TypeError, both of which
# UpdateHashRing answers with INVALID_ARGUMENT).
@pytest.mark.parametrize("ppm", [True, 1.5])
def test_ppm_must_be_an_integer(ppm: object) -> None:
    stored = {**RingConfig().to_json(), "bounded_load_epsilon_ppm": ppm}
    with pytest.raises(RingError):
        RingConfig.from_json(stored)  # the stored form refuses it ...
    with pytest.raises((RingError, TypeError)):
        _ring_config({"bounded_load_epsilon_ppm": ppm})  # ... so must the request form


def test_both_epsilon_forms_at_once_are_refused() -> None:
    with pytest.raises(TypeError, match="not both"):
        _ring_config({"bounded_load_epsilon": 0.5, "bounded_load_epsilon_ppm": 1})
