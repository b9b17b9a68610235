"""The declarative topology builder: spec -> StormTopology, and every check before submit."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pydantic
import pytest
import thriftpy2.utils
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.storm.nimbus import errors, idl, topology


def wordcount() -> dict[str, Any]:
    return {
        "name": "wordcount",
        "workers": 2,
        "config": {"topology.debug": True},
        "spouts": {
            "words": {
                "java": {"class": "org.example.WordSpout", "args": ["/data/words.txt", 10]},
                "outputs": {"default": ["word"]},
            }
        },
        "bolts": {
            "split": {
                "shell": {"command": "python3", "script": "splitter.py"},
                "parallelism": 2,
                "inputs": [{"component": "words"}],
                "outputs": {
                    "default": ["word"],
                    "pairs": {"fields": ["word", "n"], "direct": True},
                },
            },
            "count": {
                "java": {"class": "org.example.CountBolt"},
                "parallelism": 3,
                "tasks": 6,
                "config": {"count.window": 60},
                "inputs": [{"component": "split", "grouping": "fields", "fields": ["word"]}],
            },
        },
    }


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(errors.TopologyError) as info:
        topology.parse(data)
    return info.value.problems


def null_grouping(kind: str) -> Any:
    return idl.storm.Grouping(**{kind: idl.storm.NullStruct()})


# --- conversion ----------------------------------------------------------------------------


def test_every_grouping_and_both_component_kinds_convert_to_thrift() -> None:
    data = wordcount()
    kinds = ["shuffle", "all", "global", "direct", "local_or_shuffle", "none"]
    data["bolts"]["sink"] = {
        "java": {"class": "org.example.Sink"},
        "inputs": [
            {"component": "words", "grouping": "shuffle"},
            {"component": "split", "grouping": "all"},
            {"component": "count", "stream": "totals", "grouping": "global"},
            {"component": "split", "stream": "pairs", "grouping": "direct"},
            {"component": "count", "grouping": "local_or_shuffle"},
            {"component": "count", "stream": "other", "grouping": "none"},
        ],
    }
    data["bolts"]["count"]["outputs"] = {"default": ["word", "n"], "totals": ["n"], "other": []}
    spec = topology.parse(data)
    thrift = spec.to_thrift()
    s = idl.storm

    assert set(thrift.spouts) == {"words"}
    assert set(thrift.bolts) == {"split", "count", "sink"}
    assert thrift.state_spouts == {}

    words = thrift.spouts["words"]
    assert words.spout_object == s.ComponentObject(
        java_object=s.JavaObject(
            full_class_name="org.example.WordSpout",
            args_list=[s.JavaObjectArg(string_arg="/data/words.txt"), s.JavaObjectArg(int_arg=10)],
        )
    )
    assert words.common == s.ComponentCommon(
        inputs={},
        streams={"default": s.StreamInfo(output_fields=["word"], direct=False)},
        parallelism_hint=1,
        json_conf=None,
    )

    split = thrift.bolts["split"]
    assert split.bolt_object == s.ComponentObject(
        shell=s.ShellComponent(execution_command="python3", script="splitter.py")
    )
    assert split.common.streams == {
        "default": s.StreamInfo(output_fields=["word"], direct=False),
        "pairs": s.StreamInfo(output_fields=["word", "n"], direct=True),
    }
    assert split.common.parallelism_hint == 2

    count = thrift.bolts["count"].common
    assert count.inputs == {
        s.GlobalStreamId(componentId="split", streamId="default"): s.Grouping(fields=["word"])
    }
    assert json.loads(count.json_conf) == {"count.window": 60, "topology.tasks": 6}

    sink = thrift.bolts["sink"].common.inputs
    gsid = s.GlobalStreamId
    assert sink == {
        gsid(componentId="words", streamId="default"): null_grouping("shuffle"),
        gsid(componentId="split", streamId="default"): null_grouping("all"),
        gsid(componentId="count", streamId="totals"): s.Grouping(fields=[]),
        gsid(componentId="split", streamId="pairs"): null_grouping("direct"),
        gsid(componentId="count", streamId="default"): null_grouping("local_or_shuffle"),
        gsid(componentId="count", streamId="other"): null_grouping("none"),
    }
    assert [str(g) for g in topology.Grouping] == [*kinds[:1], "fields", *kinds[1:]]

    back = topology.TopologySpec.from_thrift("wordcount", thrift, spec.conf_json())
    assert back.to_thrift() == thrift
    assert back.conf_json() == spec.conf_json()
    assert [i.grouping for i in back.bolts["sink"].inputs] == kinds
    assert (
        thriftpy2.utils.deserialize(s.StormTopology(), thriftpy2.utils.serialize(thrift)) == thrift
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, {"int_arg": 0}),
        (2**31 - 1, {"int_arg": 2**31 - 1}),
        (-(2**31), {"int_arg": -(2**31)}),
        (2**31, {"long_arg": 2**31}),
        (-(2**31) - 1, {"long_arg": -(2**31) - 1}),
        (2**63 - 1, {"long_arg": 2**63 - 1}),
        (True, {"bool_arg": True}),
        (False, {"bool_arg": False}),
        (1.5, {"double_arg": 1.5}),
        ("x", {"string_arg": "x"}),
        (b"\x00\xff", {"binary_arg": b"\x00\xff"}),
        ({"binary": "AP8="}, {"binary_arg": b"\x00\xff"}),
    ],
)
def test_java_args_take_the_narrowest_thrift_type(value: object, expected: dict[str, Any]) -> None:
    data = wordcount()
    data["spouts"]["words"]["java"]["args"] = [value]
    thrift = topology.parse(data).to_thrift()
    [arg] = thrift.spouts["words"].spout_object.java_object.args_list
    assert arg == idl.storm.JavaObjectArg(**expected)


def test_binary_args_dump_to_their_file_form() -> None:
    data = wordcount()
    data["spouts"]["words"]["java"]["args"] = [b"\x00\xff", 3]
    spec = topology.parse(data)
    dumped = spec.model_dump(mode="json", by_alias=True)
    assert dumped["spouts"]["words"]["java"] == {
        "class": "org.example.WordSpout",
        "args": [{"binary": "AP8="}, 3],
    }
    assert topology.parse(dumped) == spec


def test_conf_json_folds_in_workers_sorts_keys_and_never_adds_the_name() -> None:
    spec = topology.parse(wordcount())
    assert spec.conf_json() == '{"topology.debug":true,"topology.workers":2}'
    assert spec.config == {"topology.debug": True}


def test_list_and_mapping_forms_are_the_same_spec() -> None:
    data = wordcount()
    listed = copy.deepcopy(data)
    listed["spouts"] = [{"id": k, **v} for k, v in data["spouts"].items()]
    listed["bolts"] = [{"id": k, **v} for k, v in data["bolts"].items()]
    data["bolts"]["split"]["id"] = "split"  # an id equal to its key is allowed
    assert topology.parse(listed) == topology.parse(data)


def test_python_callers_build_specs_with_keywords() -> None:
    spec = topology.TopologySpec(
        name="t",
        spouts={
            "s": topology.ComponentSpec(
                java=topology.JavaSpec(class_name="a.S"), outputs={"default": topology.StreamSpec()}
            )
        },
        bolts={
            "b": topology.ComponentSpec(
                shell=topology.ShellSpec(command="node", script="b.js"),
                inputs=(topology.InputSpec(component="s", grouping=topology.Grouping.ALL),),
            )
        },
    )
    assert spec.to_thrift().bolts["b"].common.inputs == {
        idl.storm.GlobalStreamId(componentId="s", streamId="default"): null_grouping("all")
    }


def test_from_thrift_refuses_what_a_spec_cannot_describe() -> None:
    thrift = topology.parse(wordcount()).to_thrift()
    thrift.bolts["count"].bolt_object = idl.storm.ComponentObject(serialized_java=b"\xac\xed")
    with pytest.raises(ValueError, match="'count' is a serialized Java object"):
        topology.TopologySpec.from_thrift("wordcount", thrift)
    thrift = topology.parse(wordcount()).to_thrift()
    [key] = thrift.bolts["count"].common.inputs
    thrift.bolts["count"].common.inputs[key] = idl.storm.Grouping(custom_serialized=b"x")
    with pytest.raises(ValueError, match="'count' uses a custom grouping"):
        topology.TopologySpec.from_thrift("wordcount", thrift)


def test_from_thrift_describes_without_vouching() -> None:
    data = wordcount()
    data["bolts"]["split"]["inputs"].append({"component": "count"})
    data["bolts"]["count"]["outputs"] = {"default": ["word"]}
    data["allow_cycles"] = True
    thrift = topology.parse(data).to_thrift()
    back = topology.TopologySpec.from_thrift("wordcount", thrift, {"topology.name": "wordcount"})
    assert back.config == {}
    assert not back.allow_cycles
    assert any(p.startswith("bolts.split.inputs: cycle:") for p in back.problems())
    with pytest.raises(errors.TopologyError):
        back.to_thrift()


# --- checks ----------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _bolt(cid: str, **fields: Any) -> Mutation:
    return _set(f"bolts/{cid}", {"java": {"class": "org.example.B"}, **fields})


CHECKS: list[tuple[Mutation, str]] = [
    (
        _set("name", "word.count"),
        "name: 'word.count' is not a valid topology name: "
        "it must be non-empty and contain none of / . : \\",
    ),
    (
        _set("name", ""),
        "name: '' is not a valid topology name: it must be non-empty and contain none of / . : \\",
    ),
    (
        _bolt("a:b", inputs=[{"component": "words"}]),
        "bolts.a:b: 'a:b' is not a valid component id: "
        "it must be non-empty and contain none of / . : \\",
    ),
    (
        _bolt("__mine", inputs=[{"component": "words"}]),
        "bolts.__mine: ids starting with '__' are reserved for Storm's system components",
    ),
    (
        _bolt("words", inputs=[{"component": "split"}]),
        "bolts.words: 'words' is also a spout; ids must be unique across spouts and bolts",
    ),
    (
        _set("bolts/count/inputs/0/component", "splt"),
        "bolts.count.inputs.0.component: bolt 'count' subscribes to non-existent component "
        "'splt' (did you mean 'split'?)",
    ),
    (
        _set("bolts/count/inputs/0/component", "zzz"),
        "bolts.count.inputs.0.component: bolt 'count' subscribes to non-existent component 'zzz'",
    ),
    (
        _set("bolts/count/inputs/0/stream", "pair"),
        "bolts.count.inputs.0.stream: bolt 'count' subscribes to non-existent stream 'pair' of "
        "'split' (it declares: 'default', 'pairs') (did you mean 'pairs'?)",
    ),
    (
        _set("bolts/count/inputs/0/fields", ["wrd", "word"]),
        "bolts.count.inputs.0.fields: bolt 'count' groups by 'wrd', not fields of stream "
        "'default' of 'split' (its fields: 'word')",
    ),
    (
        _set("bolts/count/inputs/0/fields", []),
        "bolts.count.inputs.0.fields: a fields grouping needs at least one field (or use 'global')",
    ),
    (
        _set("bolts/split/inputs/0/fields", ["word"]),
        "bolts.split.inputs.0.fields: only a fields grouping takes fields, not 'shuffle'",
    ),
    (
        _set("bolts/split/inputs/0/grouping", "direct"),
        "bolts.split.inputs.0.grouping: a direct grouping needs a direct stream; "
        "stream 'default' of 'words' is not direct",
    ),
    (
        _bolt("pairs", inputs=[{"component": "split", "stream": "pairs", "grouping": "shuffle"}]),
        "bolts.pairs.inputs.0.grouping: stream 'pairs' of 'split' is direct, "
        "so its subscribers must use the direct grouping",
    ),
    (
        _set("spouts/words/inputs", [{"component": "count"}]),
        "spouts.words.inputs: a spout cannot subscribe to streams (make 'words' a bolt)",
    ),
    (
        _set("bolts/count/inputs", []),
        "bolts.count.inputs: bolt 'count' subscribes to nothing; a bolt needs an input",
    ),
    (
        _set(
            "bolts/split/inputs",
            [{"component": "words"}, {"component": "words", "grouping": "all"}],
        ),
        "bolts.split.inputs.1: bolt 'split' already subscribes to stream 'default' of 'words' "
        "(inputs.0)",
    ),
    (_set("bolts/count/parallelism", 0), "bolts.count.parallelism: must be ≥ 1, got 0"),
    (_set("bolts/count/tasks", 2), "bolts.count.tasks: must be ≥ parallelism (3), got 2"),
    (_set("workers", 0), "workers: must be ≥ 1, got 0"),
    (
        _set("config/topology.workers", "3"),
        "config.topology.workers: must be a positive integer, got '3'",
    ),
    (
        _set("config/topology.workers", 3),
        "workers: 2 contradicts config.topology.workers (3); set one",
    ),
    (
        _set("config/topology.name", "other"),
        "config.topology.name: Storm sets it to the topology name; remove it",
    ),
    (
        _set("config/limits", {"max": math.inf}),
        "config.limits.max: inf is not JSON (Storm cannot read NaN or infinity)",
    ),
    (_set("config/hosts", {"a", "b"}), "config.hosts: a set is not JSON"),
    (
        _set("bolts/count/config", {"by": {1: "x"}}),
        "bolts.count.config.by: key 1 is not a string; JSON keys are strings",
    ),
    (
        _set("bolts/count/config", {"topology.tasks": 6}),
        "bolts.count.config.topology.tasks: set the component's 'tasks' instead",
    ),
    (
        _set("bolts/count/shell", {"command": "python3", "script": "c.py"}),
        "bolts.count: needs exactly one of 'java' or 'shell', has both",
    ),
    (
        _set("bolts/count/java", None),
        "bolts.count: needs exactly one of 'java' or 'shell', has neither",
    ),
    (
        _set("spouts/words/java/class", "org.example.Word Spout"),
        "spouts.words.java.class: 'org.example.Word Spout' is not a Java class name",
    ),
    (
        _set("spouts/words/java/args", [2**63]),
        f"spouts.words.java.args.0: {2**63} does not fit in a Java long",
    ),
    (_set("bolts/split/shell/script", " "), "bolts.split.shell.script: must not be empty"),
    (
        _set("bolts/split/outputs/__ack", ["x"]),
        "bolts.split.outputs.__ack: ids starting with '__' are reserved for Storm's streams",
    ),
    (_set("bolts/split/outputs/", ["x"]), "bolts.split.outputs: a stream id must not be empty"),
    (
        _set("spouts/words/outputs/default", ["word", "word"]),
        "spouts.words.outputs.default.fields: 'word' appears twice",
    ),
    (_set("spouts", {}), "spouts: a topology needs at least one spout"),
]


@pytest.mark.parametrize(("mutate", "expected"), CHECKS, ids=[e.split(":")[0] for _, e in CHECKS])
def test_each_check_reports_one_precise_problem(mutate: Mutation, expected: str) -> None:
    data = wordcount()
    mutate(data)
    problems = problems_of(data)
    if expected.startswith("spouts: a topology"):
        # Without its spout, the bolt subscribing to it dangles as well.
        assert problems[0] == expected
    else:
        assert problems == [expected]


def test_all_problems_are_reported_together() -> None:
    data = wordcount()
    for mutate, _ in CHECKS[1:6]:
        mutate(data)
    with pytest.raises(errors.TopologyError) as info:
        topology.parse(data)
    assert set(info.value.problems) == {expected for _, expected in CHECKS[1:6]}
    assert str(info.value).startswith("invalid topology:\n  - name: '' is not")


def test_cycles_are_refused_with_their_path_unless_allowed() -> None:
    data = wordcount()
    data["bolts"]["count"]["outputs"] = {"default": ["word"]}
    data["bolts"]["tally"] = {"java": {"class": "T"}, "inputs": [{"component": "count"}]}
    data["bolts"]["split"]["inputs"].append({"component": "tally"})
    data["bolts"]["tally"]["outputs"] = {"default": ["word"]}
    data["bolts"]["echo"] = {
        "java": {"class": "E"},
        "inputs": [{"component": "words"}, {"component": "echo"}],
        "outputs": {"default": ["word"]},
    }
    assert problems_of(data) == [
        "bolts.split.inputs: cycle: split -> count -> tally -> split "
        "(Storm allows cycles; set allow_cycles: true if this one is meant)",
        "bolts.echo.inputs: cycle: echo -> echo "
        "(Storm allows cycles; set allow_cycles: true if this one is meant)",
    ]
    data["allow_cycles"] = True
    assert set(topology.parse(data).to_thrift().bolts) == {"split", "count", "tally", "echo"}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"bolts": {"count": {"paralelism": 2}}},
            "bolts.count.paralelism: Extra inputs are not permitted (did you mean 'parallelism'?)",
        ),
        (
            {"bolts": {"count": {"parallelism": "2"}}},
            "bolts.count.parallelism: Input should be a valid integer",
        ),
        (
            {"bolts": {"count": {"parallelism": True}}},
            "bolts.count.parallelism: Input should be a valid integer",
        ),
        (
            {"bolts": {"count": {"inputs": [{"component": "split", "grouping": "shufle"}]}}},
            "bolts.count.inputs.0.grouping: Input should be 'shuffle', 'fields', 'all', 'global', "
            "'direct', 'local_or_shuffle' or 'none'",
        ),
        (
            {"spouts": {"words": {"java": {"class": "A", "args": [None]}}}},
            "spouts.words.java.args.0: must be an int, float, bool, string or {binary: <base64>}",
        ),
        (
            {"spouts": {"words": {"java": {"class": "A", "args": [{"binary": "a"}]}}}},
            "spouts.words.java.args.0: binary: not valid base64 (Invalid base64-encoded string: "
            "number of data characters (1) cannot be 1 more than a multiple of 4)",
        ),
        (
            {"spouts": {"words": {"id": "w"}}},
            "spouts: spout 'words' has id 'w'; in a mapping the key is the id",
        ),
        ({"bolts": [{"id": "a"}, {"id": "a"}]}, "bolts: duplicate id 'a' (item 1)"),
        ({"bolts": [{"java": {"class": "A"}}]}, "bolts: item 0 needs an 'id' (a string)"),
        (
            {"bolts": "count"},
            "bolts: must be a mapping of id to component, or a list of items with an id",
        ),
        ({"name": None}, "name: Input should be a valid string"),
    ],
)
def test_shape_errors_name_their_path(data: dict[str, Any], expected: str) -> None:
    base = wordcount()
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            for cid, comp in value.items():
                base[key][cid] = {**base[key].get(cid, {}), **comp}
        else:
            base[key] = value
    assert problems_of(base) == [expected]


def test_model_validate_raises_a_validation_error_carrying_the_problems() -> None:
    data = wordcount()
    data["bolts"]["count"]["parallelism"] = 0

    class Resource(pydantic.BaseModel):
        topology: topology.TopologySpec

    with pytest.raises(pydantic.ValidationError) as info:
        Resource.model_validate({"topology": data})
    [error] = info.value.errors()
    assert error["loc"] == ("topology",)
    assert error["msg"] == "bolts.count.parallelism: must be ≥ 1, got 0"
    assert topology.validation_problems(info.value) == [error["msg"]]


def test_to_thrift_checks_again_after_a_copy_that_skipped_validation() -> None:
    spec = topology.parse(wordcount()).model_copy(update={"workers": -1})
    for method in (spec.to_thrift, spec.conf_json):
        with pytest.raises(errors.TopologyError, match="workers: must be ≥ 1, got -1"):
            method()


def test_a_recursive_config_is_reported_not_looped_over() -> None:
    data = wordcount()
    loop: list[Any] = []
    loop.append(loop)
    data["config"]["loop"] = loop
    assert problems_of(data) == ["config.loop.0: contains itself"]


@given(st.text(max_size=12))
def test_names_follow_storms_rule(name: str) -> None:
    data = wordcount()
    data["name"] = name
    ok = bool(name) and not any(c in name for c in "/.:\\")
    try:
        assert topology.parse(data).name == name
        assert ok
    except errors.TopologyError as exc:
        assert not ok
        assert exc.problems == [
            f"name: {name!r} is not a valid topology name: "
            "it must be non-empty and contain none of / . : \\"
        ]


# --- generated topologies ------------------------------------------------------------------

IDS = st.from_regex(r"[a-z][a-z0-9_-]{0,7}", fullmatch=True)
FIELDS = st.lists(st.from_regex(r"[a-z]{1,5}", fullmatch=True), max_size=4, unique=True)
STREAM_IDS = st.one_of(st.just("default"), st.from_regex(r"[a-z]{1,6}", fullmatch=True))
ARGS = st.lists(
    st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.booleans(),
        st.floats(allow_nan=False),
        st.text(max_size=5),
        st.binary(max_size=5),
    ),
    max_size=3,
)
PLAIN_GROUPINGS = ["shuffle", "all", "global", "local_or_shuffle", "none", "fields"]


@st.composite
def dag_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid topology: components in order, bolts subscribing only to earlier ones."""
    ids = draw(st.lists(IDS, min_size=2, max_size=7, unique=True))
    n_spouts = draw(st.integers(1, len(ids) - 1))
    streams: dict[str, dict[str, tuple[list[str], bool]]] = {}
    data: dict[str, Any] = {"name": draw(IDS), "spouts": {}, "bolts": {}}
    if draw(st.booleans()):
        data["workers"] = draw(st.integers(1, 8))
    for index, cid in enumerate(ids):
        is_spout = index < n_spouts
        outs = draw(
            st.dictionaries(
                STREAM_IDS, st.tuples(FIELDS, st.booleans()), min_size=int(is_spout), max_size=3
            )
        )
        streams[cid] = outs
        parallelism = draw(st.integers(1, 4))
        comp: dict[str, Any] = {
            "parallelism": parallelism,
            "outputs": {
                sid: {"fields": f, "direct": d} if d or draw(st.booleans()) else f
                for sid, (f, d) in outs.items()
            },
        }
        if draw(st.booleans()):
            comp["tasks"] = draw(st.integers(parallelism, 8))
        if draw(st.booleans()):
            comp["config"] = {"x.y": draw(st.integers()), "flag": draw(st.booleans())}
        if draw(st.booleans()):
            comp["java"] = {"class": "org.example.C" + cid.replace("-", "_"), "args": draw(ARGS)}
        else:
            comp["shell"] = {"command": "python3", "script": f"{cid}.py"}
        if not is_spout:
            sources = [(src, sid) for src in ids[:index] for sid in streams[src]]
            chosen = draw(st.lists(st.sampled_from(sources), min_size=1, max_size=3, unique=True))
            comp["inputs"] = []
            for src, sid in chosen:
                fields, direct = streams[src][sid]
                inp: dict[str, Any] = {"component": src}
                if sid != "default" or draw(st.booleans()):
                    inp["stream"] = sid
                grouping = "direct" if direct else draw(st.sampled_from(PLAIN_GROUPINGS))
                if grouping == "fields" and not fields:
                    grouping = "shuffle"
                if grouping == "fields":
                    inp["fields"] = draw(st.lists(st.sampled_from(fields), min_size=1, unique=True))
                if grouping != "shuffle" or draw(st.booleans()):
                    inp["grouping"] = grouping
                comp["inputs"].append(inp)
        data["spouts" if is_spout else "bolts"][cid] = comp
    return data


@given(dag_specs(), st.booleans())
def test_generated_topologies_convert_and_every_input_resolves(
    data: dict[str, Any], listed: bool
) -> None:
    if listed:
        data = {
            **data,
            "spouts": [{"id": k, **v} for k, v in data["spouts"].items()],
            "bolts": [{"id": k, **v} for k, v in data["bolts"].items()],
        }
    spec = topology.parse(data)
    thrift = spec.to_thrift()
    components = {**thrift.spouts, **thrift.bolts}
    assert len(components) == len(thrift.spouts) + len(thrift.bolts)
    for cid, comp in components.items():
        if cid in thrift.spouts:
            assert comp.common.inputs == {}
        for gsid, grouping in comp.common.inputs.items():
            source = components[gsid.componentId].common
            stream = source.streams[gsid.streamId]
            assert set(grouping.fields or ()) <= set(stream.output_fields)
            assert (grouping.direct is not None) == stream.direct
    wire = thriftpy2.utils.serialize(thrift)
    assert thriftpy2.utils.deserialize(idl.storm.StormTopology(), wire) == thrift
    back = topology.TopologySpec.from_thrift(spec.name, thrift, spec.conf_json())
    assert back.to_thrift() == thrift
    assert json.loads(back.conf_json()) == json.loads(spec.conf_json())


@given(dag_specs(), st.data())
def test_renaming_a_referenced_component_is_always_caught(
    data: dict[str, Any], draws: st.DataObject
) -> None:
    referenced = sorted({i["component"] for b in data["bolts"].values() for i in b["inputs"]})
    old = draws.draw(st.sampled_from(referenced))
    taken = {*data["spouts"], *data["bolts"]}
    new = draws.draw(IDS.filter(lambda x: x not in taken))
    kind = "spouts" if old in data["spouts"] else "bolts"
    data[kind] = {new if k == old else k: v for k, v in data[kind].items()}
    problems = problems_of(data)
    assert any(f"subscribes to non-existent component {old!r}" in p for p in problems)


@given(dag_specs(), st.data())
def test_a_dangling_reference_is_always_caught(data: dict[str, Any], draws: st.DataObject) -> None:
    bolt = draws.draw(st.sampled_from(sorted(data["bolts"])))
    index = draws.draw(st.integers(0, len(data["bolts"][bolt]["inputs"]) - 1))
    taken = {*data["spouts"], *data["bolts"]}
    ghost = draws.draw(IDS.filter(lambda x: x not in taken))
    data["bolts"][bolt]["inputs"][index]["component"] = ghost
    problems = problems_of(data)
    assert any(
        p.startswith(
            f"bolts.{bolt}.inputs.{index}.component: bolt {bolt!r} subscribes to "
            f"non-existent component {ghost!r}"
        )
        for p in problems
    )
