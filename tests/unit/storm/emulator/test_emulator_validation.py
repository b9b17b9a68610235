"""What the emulator refuses in a submission, with Storm's messages, and the executor and
task counts it derives from a valid topology."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pilothouse.operators.storm.nimbus import errors, idl
from pilothouse.operators.storm.nimbus.emulator import validation

S = idl.storm


def common(
    streams: dict[str, list[str]] | None = None,
    inputs: dict[tuple[str, str], Any] | None = None,
    parallelism: int | None = None,
    json_conf: dict[str, Any] | None = None,
) -> Any:
    return S.ComponentCommon(
        inputs={
            S.GlobalStreamId(componentId=c, streamId=s): g for (c, s), g in (inputs or {}).items()
        },
        streams={
            k: S.StreamInfo(output_fields=v, direct=False)
            for k, v in (streams if streams is not None else {"default": ["word"]}).items()
        },
        parallelism_hint=parallelism,
        json_conf=json.dumps(json_conf) if json_conf is not None else None,
    )


def topology(spouts: dict[str, Any], bolts: dict[str, Any]) -> Any:
    obj = S.ComponentObject(serialized_java=b"\x00")
    return S.StormTopology(
        spouts={k: S.SpoutSpec(spout_object=obj, common=v) for k, v in spouts.items()},
        bolts={k: S.Bolt(bolt_object=obj, common=v) for k, v in bolts.items()},
        state_spouts={},
    )


def shuffle() -> Any:
    return S.Grouping(shuffle=S.NullStruct())


def test_a_valid_topology_yields_sorted_components_with_executors_and_tasks() -> None:
    valid = topology(
        {"words": common(parallelism=2)},
        {
            "count": common(
                inputs={("words", "default"): S.Grouping(fields=["word"])},
                parallelism=3,
                json_conf={"topology.tasks": 6},
            ),
            "sink": common(inputs={("count", "default"): shuffle()}, json_conf={"x": 1}),
        },
    )
    assert validation.components(valid) == [
        validation.Component("count", 3, 6),
        validation.Component("sink", 1, 1),
        validation.Component("words", 2, 2),
    ]


@pytest.mark.parametrize(
    ("spouts", "bolts", "message"),
    [
        (
            {"s": common()},
            {"b": common(inputs={("x", "default"): shuffle()})},
            r"Component: \[b\] subscribes from non-existent component \[x\]",
        ),
        (
            {"s": common()},
            {"b": common(inputs={("s", "other"): shuffle()})},
            r"Component: \[b\] subscribes from non-existent stream: \[other\] of component \[s\]",
        ),
        (
            {"s": common()},
            {"b": common(inputs={("s", "default"): S.Grouping(fields=["word", "n"])})},
            r"with non-existent fields: \['n'\]",
        ),
        ({"x": common()}, {"x": common()}, r"Duplicate component ids: \['x'\]"),
        ({"__acker": common()}, {}, "__acker is not a valid component id"),
        ({"s": common(streams={"__tick": []})}, {}, "__tick is not a valid stream id"),
        ({"s": common(parallelism=0)}, {}, r"Component: \[s\] has parallelism_hint 0"),
        (
            {"s": common(inputs={("s", "default"): shuffle()})},
            {},
            "May not declare inputs for a spout",
        ),
        ({"s": common(json_conf={"topology.tasks": 0})}, {}, "tasks must be greater than 0"),
    ],
)
def test_structure_errors_read_like_storms(
    spouts: dict[str, Any], bolts: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.InvalidTopologyError, match=message):
        validation.components(topology(spouts, bolts))


def test_missing_topology_is_invalid() -> None:
    with pytest.raises(errors.InvalidTopologyError, match="no topology"):
        validation.components(None)


@pytest.mark.parametrize("name", ["", "a/b", "a.b", "a:b", "a\\b", None])
def test_names_storm_refuses(name: str | None) -> None:
    with pytest.raises(errors.InvalidTopologyError, match="Topology name must match"):
        validation.check_name(name)


def test_names_storm_accepts() -> None:
    assert validation.check_name("word-count_2 ü") == "word-count_2 ü"


@pytest.mark.parametrize("text", ["", "[]", "1", "{", None])
def test_conf_must_be_a_json_object(text: str | None) -> None:
    with pytest.raises(errors.InvalidTopologyError, match="Topology conf"):
        validation.parse_conf(text)


@pytest.mark.parametrize(("value", "ok"), [(1, True), (2.0, True), (0, False), (True, False)])
def test_positive_int(value: Any, ok: bool) -> None:
    if ok:
        assert validation.positive_int(value, "n") == int(value)
    else:
        with pytest.raises(errors.InvalidTopologyError):
            validation.positive_int(value, "n")
