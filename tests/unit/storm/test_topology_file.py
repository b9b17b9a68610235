"""Topology files: YAML and JSON loading, and errors that point at the file and the place."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.storm.nimbus import errors, topology, topologyfile

WORDCOUNT_YAML = """\
name: wordcount
workers: 2
config:
  topology.debug: true

spouts:
  - id: words
    java:
      class: org.example.WordSpout
      args: ["/data/words.txt", 10, !!binary AP8=]
    outputs: &words
      default: [word]

bolts:
  split: &splitter
    shell: {command: python3, script: splitter.py}
    parallelism: 2
    inputs:
      - component: words
    outputs: *words
  split2:
    <<: *splitter
    parallelism: 3
  count:
    java: {class: org.example.CountBolt}
    parallelism: 3
    inputs:
      - {component: split, grouping: fields, fields: [word]}
"""

SPLITTER: dict[str, Any] = {
    "shell": {"command": "python3", "script": "splitter.py"},
    "parallelism": 2,
    "inputs": [{"component": "words"}],
    "outputs": {"default": ["word"]},
}
EXPECTED: dict[str, Any] = {
    "name": "wordcount",
    "workers": 2,
    "config": {"topology.debug": True},
    "spouts": {
        "words": {
            "java": {
                "class": "org.example.WordSpout",
                "args": ["/data/words.txt", 10, b"\x00\xff"],
            },
            "outputs": {"default": ["word"]},
        }
    },
    "bolts": {
        "split": SPLITTER,
        "split2": {**SPLITTER, "parallelism": 3},
        "count": {
            "java": {"class": "org.example.CountBolt"},
            "parallelism": 3,
            "inputs": [{"component": "split", "grouping": "fields", "fields": ["word"]}],
        },
    },
}


def load_problems(path: pathlib.Path) -> list[str]:
    with pytest.raises(errors.TopologyError) as info:
        topologyfile.load_topology_file(path)
    return info.value.problems


def test_a_yaml_file_loads_with_anchors_merge_keys_and_binary_args(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(WORDCOUNT_YAML)
    spec = topologyfile.load_topology_file(path)
    assert spec == topology.parse(EXPECTED)
    assert spec.bolts["split2"].parallelism == 3  # the key beside the merge wins
    assert topology.load_topology_file(path) == spec


def test_a_json_file_loads(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "topology.JSON"
    data = json.loads(json.dumps(EXPECTED, default=lambda b: {"binary": "AP8="}))
    path.write_text(json.dumps(data))
    assert topologyfile.load_topology_file(path) == topology.parse(EXPECTED)


def test_content_errors_name_the_file_and_the_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(
        WORDCOUNT_YAML.replace("parallelism: 3\n    inputs", "parallelism: 0\n    inputs").replace(
            "component: split,", "component: splt,"
        )
    )
    file = str(path)
    assert load_problems(path) == [
        f"{file}: bolts.count.parallelism: must be ≥ 1, got 0",
        f"{file}: bolts.count.inputs.0.component: bolt 'count' subscribes to non-existent "
        "component 'splt' (did you mean 'split'?)",
    ]


def test_shape_errors_name_the_file_and_the_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "topology.yaml"
    path.write_text(
        WORDCOUNT_YAML.replace("parallelism: 3\n    inputs", "paralelism: 3\n    inputs")
    )
    assert load_problems(path) == [
        f"{path}: bolts.count.paralelism: Extra inputs are not permitted "
        "(did you mean 'parallelism'?)"
    ]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "t.yaml",
            "name: wc\nspouts: [\n",
            "t.yaml:3:1: while parsing a flow node, expected the node content, "
            "but found '<stream end>'",
        ),
        (
            "t.yaml",
            "name: wc\nbolts:\n  a: {}\n  a: {}\n",
            "t.yaml:4:3: while constructing a mapping, found duplicate key 'a'",
        ),
        (
            "t.yaml",
            "- name: wc\n",
            "t.yaml: expected a mapping with the topology's name, spouts and bolts; got a list",
        ),
        (
            "t.yaml",
            "",
            "t.yaml: expected a mapping with the topology's name, spouts and bolts; "
            "got an empty document",
        ),
        (
            "t.yaml",
            "a: 1\n---\nb: 2\n",
            "t.yaml:2:1: expected a single document in the stream, but found another document",
        ),
        (
            "t.yaml",
            "name: !!python/object:os.system {}\n",
            "t.yaml:1:7: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("t.json", '{"name": "wc",\n "name": "x"}', "t.json: duplicate key 'name'"),
        (
            "t.json",
            '{"name": "wc",\n  oops}',
            "t.json:2:3: Expecting property name enclosed in double quotes",
        ),
    ],
)
def test_syntax_errors_point_at_line_and_column(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    pathlib.Path(name).write_text(text)
    assert load_problems(pathlib.Path(name)) == [expected]


def test_unreadable_files_are_topology_errors(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert load_problems(missing) == [f"{missing}: cannot read: No such file or directory"]
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    [problem] = load_problems(latin)
    assert problem.startswith(f"{latin}: cannot read: 'utf-8' codec can't decode byte 0xe9")


def test_text_loading_names_its_source() -> None:
    with pytest.raises(errors.TopologyError) as info:
        topologyfile.load_topology_text("name: a.b\nspouts: {}\n", "stdin")
    assert info.value.problems == [
        "stdin: name: 'a.b' is not a valid topology name: "
        "it must be non-empty and contain none of / . : \\",
        "stdin: spouts: a topology needs at least one spout",
    ]


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(["name", "spouts", "bolts", "config", "workers", "x"]), YAML_VALUES
    )
)
def test_any_document_loads_or_fails_as_a_topology_error(document: dict[str, Any]) -> None:
    text = yaml.safe_dump(document)
    try:
        spec = topologyfile.load_topology_text(text, "doc.yaml")
    except errors.TopologyError as exc:
        assert exc.problems
        assert all(p.startswith("doc.yaml") for p in exc.problems)
    else:
        assert spec.problems() == []


@given(st.text(max_size=200))
def test_any_text_loads_or_fails_as_a_topology_error(text: str) -> None:
    for kind in ("yaml", "json"):
        try:
            topologyfile.load_topology_text(text, "doc", kind=kind)
        except errors.TopologyError as exc:
            assert all(p.startswith("doc") for p in exc.problems)


@given(
    workers=st.integers(1, 64),
    parallelism=st.integers(1, 16),
    extra_tasks=st.integers(0, 16),
    args=st.lists(
        st.one_of(
            st.integers(-(2**63), 2**63 - 1),
            st.booleans(),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=8),
            st.binary(max_size=8),
        ),
        max_size=4,
    ),
    # Keys Storm reads itself (topology.workers, topology.name) have checks of their own.
    config=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: not k.startswith("topology.")),
        st.integers() | st.text(max_size=8),
    ),
)
def test_a_dumped_spec_loads_back_the_same(
    workers: int, parallelism: int, extra_tasks: int, args: list[Any], config: dict[str, Any]
) -> None:
    data: dict[str, Any] = {**EXPECTED, "workers": workers, "config": config}
    words = {**EXPECTED["spouts"]["words"], "parallelism": parallelism}
    words["java"] = {"class": "org.example.W", "args": args}
    words["tasks"] = parallelism + extra_tasks
    data["spouts"] = {"words": words}
    spec = topology.parse(data)
    dumped = spec.model_dump(mode="json", by_alias=True)
    assert topologyfile.load_topology_text(yaml.safe_dump(dumped), "y.yaml") == spec
    assert topologyfile.load_topology_text(json.dumps(dumped), "j.json", kind="json") == spec
