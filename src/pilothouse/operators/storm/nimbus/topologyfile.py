"""Topology files: YAML or JSON to a checked ``TopologySpec``, with errors that point at the file.

Every failure is one ``errors.TopologyError`` whose problems start with the file's path as
given: ``topology.yaml:7:3: ...`` for syntax (line and column, 1-based), ``topology.yaml:
bolts.count.parallelism: must be ≥ 1, got 0`` for the content (the path inside the document,
as ``topology`` reports it). An unreadable file is a ``TopologyError`` too, so a caller
handles one exception for "this file cannot be submitted".

``.json`` files are read as JSON; anything else as YAML (safe loader only: no Python tags).
Duplicate keys are errors in both, where PyYAML and ``json`` would silently keep the last
one: in the mapping form of ``bolts`` that would drop a whole component without a word.
Caveat: YAML 1.1 reads ``yes``/``no``/``on``/``off`` as booleans; ``topology`` uses strict
types, so such a value where a string belongs is reported, not coerced.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Hashable
from typing import Any, Literal

import yaml

from pilothouse.operators.storm.nimbus import errors, topology


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that repeats a key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            # ``<<`` merge keys may repeat, and a key may override a merged one.
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable; the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_topology_file(path: str | os.PathLike[str]) -> topology.TopologySpec:
    """The checked spec in a YAML or JSON file; ``errors.TopologyError`` naming the file if not."""
    source = os.fspath(path)
    try:
        text = pathlib.Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise errors.TopologyError([f"{source}: cannot read: {reason}"]) from None
    json_file = source.lower().endswith(".json")
    return load_topology_text(text, source, kind="json" if json_file else "yaml")


def load_topology_text(
    text: str, source: str = "<text>", *, kind: Literal["yaml", "json"] = "yaml"
) -> topology.TopologySpec:
    """The checked spec in YAML or JSON ``text``; ``source`` names it in errors."""
    data = _parse_json(text, source) if kind == "json" else _parse_yaml(text, source)
    if not isinstance(data, dict):
        got = "an empty document" if data is None else f"a {type(data).__name__}"
        raise errors.TopologyError(
            [f"{source}: expected a mapping with the topology's name, spouts and bolts; got {got}"]
        )
    try:
        return topology.parse(data)
    except errors.TopologyError as exc:
        raise errors.TopologyError([f"{source}: {p}" for p in exc.problems]) from None


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no Python tags
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        # PyYAML's own reading order: "while parsing X, expected Y, but found Z".
        what = ", ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise errors.TopologyError([f"{where}: {what}"]) from None
    except yaml.YAMLError as exc:
        raise errors.TopologyError([f"{source}: invalid YAML: {exc}"]) from None


def _parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise errors.TopologyError([f"{source}:{exc.lineno}:{exc.colno}: {exc.msg}"]) from None
    except ValueError as exc:  # a duplicate key, from _json_object; json gives no position
        raise errors.TopologyError([f"{source}: {exc}"]) from None
