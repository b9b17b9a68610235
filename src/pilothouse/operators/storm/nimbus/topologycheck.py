"""The meaning checks of a topology spec: every reason Nimbus (or we) would refuse it.

``problems(spec)`` returns the whole list, each problem prefixed with the path of the field
at fault (``bolts.count.inputs.0.stream: ...``), so one run reports every mistake: names,
references between components, streams and fields, groupings, cycles, ranges, JSON-ability,
with a "did you mean" (``suggest``) where a name is close to a declared one. ``topology``
runs it after pydantic has checked the shape; see that module for how problems are raised.

Where these rules are stricter than Nimbus, on purpose:

- Cycles are refused ("cycle: a -> b -> a"). Storm accepts them (a bolt may feed back into an
  upstream bolt), but in a declarative file one is far more often a wrong id than a design;
  ``allow_cycles: true`` turns the check off.
- ``tasks`` must be ≥ ``parallelism``. Storm would run only ``tasks`` executors, silently
  ignoring part of the parallelism asked for.
- Component ids follow the topology-name rule (no ``/ . : \\``): they become parts of paths
  and metric names.
- Direct streams are checked both ways at submit time: a ``direct`` grouping needs a stream
  declared direct, and a direct stream accepts only ``direct`` subscribers. Storm only finds
  either mistake when the first tuple is emitted.

Design: ``topology`` (the pydantic models) imports this module, so this module does not
import ``topology``. It reads a spec through the small protocols below (``Spec`` and the
rest), which the models satisfy, and it owns the vocabulary both sides need: ``Grouping``
(re-exported as ``topology.Grouping``, where users of the models find it) and the Storm
configuration keys. The rules are plain functions of the spec, with no pydantic in them, so
they run the same on a validated spec and on one made with ``model_construct``.
"""

from __future__ import annotations

import difflib
import enum
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

WORKERS_KEY = "topology.workers"
TASKS_KEY = "topology.tasks"
NAME_KEY = "topology.name"

_NAME = re.compile(r"^[^/.:\\]+$")
_NAME_RULE = "it must be non-empty and contain none of / . : \\"
_JAVA_CLASS = re.compile(r"^[^\W\d][\w$]*(\.[^\W\d][\w$]*)*$")
_I64 = range(-(2**63), 2**63)


class Grouping(enum.StrEnum):
    """How a bolt's tasks share the tuples of a stream it subscribes to."""

    SHUFFLE = "shuffle"
    FIELDS = "fields"
    ALL = "all"
    GLOBAL = "global"
    DIRECT = "direct"
    LOCAL_OR_SHUFFLE = "local_or_shuffle"
    NONE = "none"


# What the rules read of a spec; ``topology``'s models have these attributes.
class Java(Protocol):
    @property
    def class_name(self) -> str: ...
    @property
    def args(self) -> Sequence[object]: ...


class Shell(Protocol):
    command: str
    script: str


class Stream(Protocol):
    direct: bool

    @property
    def fields(self) -> Sequence[str]: ...


class Input(Protocol):
    component: str
    stream: str
    grouping: Grouping

    @property
    def fields(self) -> Sequence[str] | None: ...


class Component(Protocol):
    parallelism: int
    tasks: int | None

    @property
    def java(self) -> Java | None: ...
    @property
    def shell(self) -> Shell | None: ...
    @property
    def config(self) -> Mapping[str, Any]: ...
    @property
    def outputs(self) -> Mapping[str, Stream]: ...
    @property
    def inputs(self) -> Sequence[Input]: ...


class Spec(Protocol):
    name: str
    workers: int | None
    allow_cycles: bool

    @property
    def config(self) -> Mapping[str, Any]: ...
    @property
    def spouts(self) -> Mapping[str, Component]: ...
    @property
    def bolts(self) -> Mapping[str, Component]: ...


def problems(spec: Spec) -> list[str]:
    """Every reason Nimbus (or this builder) would refuse ``spec``; empty when valid."""
    out: list[str] = []
    if not _NAME.match(spec.name):
        out.append(f"name: {spec.name!r} is not a valid topology name: {_NAME_RULE}")
    out.extend(_json_problems(spec.config, "config", set()))
    out.extend(_workers_problems(spec))
    if NAME_KEY in spec.config and spec.config[NAME_KEY] != spec.name:
        out.append(f"config.{NAME_KEY}: Storm sets it to the topology name; remove it")
    if not spec.spouts:
        out.append("spouts: a topology needs at least one spout")
    for kind, components in (("spouts", spec.spouts), ("bolts", spec.bolts)):
        for cid, comp in components.items():
            out.extend(_component_problems(spec, kind, cid, comp))
    if not spec.allow_cycles:
        out.extend(_cycle_problems(spec))
    return out


def suggest(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _workers_problems(spec: Spec) -> Iterator[str]:
    if spec.workers is not None and spec.workers < 1:
        yield f"workers: must be ≥ 1, got {spec.workers}"
    if WORKERS_KEY not in spec.config:
        return
    value = spec.config[WORKERS_KEY]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        yield f"config.{WORKERS_KEY}: must be a positive integer, got {value!r}"
    elif spec.workers is not None and spec.workers != value:
        yield f"workers: {spec.workers} contradicts config.{WORKERS_KEY} ({value}); set one"


def _component_problems(spec: Spec, kind: str, cid: str, comp: Component) -> Iterator[str]:
    path = f"{kind}.{cid}"
    if not _NAME.match(cid):
        yield f"{path}: {cid!r} is not a valid component id: {_NAME_RULE}"
    elif cid.startswith("__"):
        yield f"{path}: ids starting with '__' are reserved for Storm's system components"
    if kind == "bolts" and cid in spec.spouts:
        yield f"{path}: {cid!r} is also a spout; ids must be unique across spouts and bolts"
    yield from _object_problems(path, comp)
    if comp.parallelism < 1:
        yield f"{path}.parallelism: must be ≥ 1, got {comp.parallelism}"
    if comp.tasks is not None and comp.tasks < max(comp.parallelism, 1):
        yield f"{path}.tasks: must be ≥ parallelism ({comp.parallelism}), got {comp.tasks}"
    yield from _json_problems(comp.config, f"{path}.config", set())
    if TASKS_KEY in comp.config:
        yield f"{path}.config.{TASKS_KEY}: set the component's 'tasks' instead"
    for sid, stream in comp.outputs.items():
        if not sid:
            yield f"{path}.outputs: a stream id must not be empty"
        elif sid.startswith("__"):
            yield f"{path}.outputs.{sid}: ids starting with '__' are reserved for Storm's streams"
        seen: set[str] = set()
        for field in stream.fields:
            if field in seen:
                yield f"{path}.outputs.{sid}.fields: {field!r} appears twice"
            seen.add(field)
    if kind == "spouts":
        if comp.inputs:
            yield f"{path}.inputs: a spout cannot subscribe to streams (make {cid!r} a bolt)"
        return
    if not comp.inputs:
        yield f"{path}.inputs: bolt {cid!r} subscribes to nothing; a bolt needs an input"
    subscribed: dict[tuple[str, str], int] = {}
    for index, inp in enumerate(comp.inputs):
        yield from _input_problems(spec, cid, index, inp)
        key = (inp.component, inp.stream)
        if key in subscribed:
            yield (
                f"{path}.inputs.{index}: bolt {cid!r} already subscribes to stream "
                f"{inp.stream!r} of {inp.component!r} (inputs.{subscribed[key]})"
            )
        subscribed.setdefault(key, index)


def _object_problems(path: str, comp: Component) -> Iterator[str]:
    if (comp.java is None) == (comp.shell is None):
        has = "both" if comp.java is not None else "neither"
        yield f"{path}: needs exactly one of 'java' or 'shell', has {has}"
    if comp.java is not None:
        if not _JAVA_CLASS.match(comp.java.class_name):
            yield f"{path}.java.class: {comp.java.class_name!r} is not a Java class name"
        for index, arg in enumerate(comp.java.args):
            if isinstance(arg, int) and arg not in _I64:
                yield f"{path}.java.args.{index}: {arg} does not fit in a Java long"
    if comp.shell is not None:
        for attr in ("command", "script"):
            if not getattr(comp.shell, attr).strip():
                yield f"{path}.shell.{attr}: must not be empty"


def _input_problems(spec: Spec, cid: str, index: int, inp: Input) -> Iterator[str]:
    path = f"bolts.{cid}.inputs.{index}"
    grouping = inp.grouping
    if grouping is Grouping.FIELDS and not inp.fields:
        yield f"{path}.fields: a fields grouping needs at least one field (or use 'global')"
    if grouping is not Grouping.FIELDS and inp.fields is not None:
        yield f"{path}.fields: only a fields grouping takes fields, not {grouping.value!r}"
    source = spec.spouts.get(inp.component) or spec.bolts.get(inp.component)
    if source is None:
        hint = suggest(inp.component, [*spec.spouts, *spec.bolts])
        yield (
            f"{path}.component: bolt {cid!r} subscribes to non-existent component "
            f"{inp.component!r}{hint}"
        )
        return
    of = f"stream {inp.stream!r} of {inp.component!r}"
    stream = source.outputs.get(inp.stream)
    if stream is None:
        declared = ", ".join(repr(sid) for sid in source.outputs) or "none"
        hint = suggest(inp.stream, list(source.outputs))
        yield (
            f"{path}.stream: bolt {cid!r} subscribes to non-existent {of} "
            f"(it declares: {declared}){hint}"
        )
        return
    missing = [f for f in inp.fields or () if f not in stream.fields]
    if grouping is Grouping.FIELDS and missing:
        have = ", ".join(repr(f) for f in stream.fields) or "none"
        yield (
            f"{path}.fields: bolt {cid!r} groups by {', '.join(map(repr, missing))}, "
            f"not fields of {of} (its fields: {have})"
        )
    if grouping is Grouping.DIRECT and not stream.direct:
        yield f"{path}.grouping: a direct grouping needs a direct stream; {of} is not direct"
    if stream.direct and grouping is not Grouping.DIRECT:
        yield f"{path}.grouping: {of} is direct, so its subscribers must use the direct grouping"


def _cycle_problems(spec: Spec) -> Iterator[str]:
    # Only bolts can be on a cycle: a spout's inputs are an error of their own.
    succ: dict[str, list[str]] = {cid: [] for cid in spec.bolts}
    for cid, comp in spec.bolts.items():
        for inp in comp.inputs:
            # An id that is also a spout's resolves to the spout (and is reported).
            known = inp.component in succ and inp.component not in spec.spouts
            if known and cid not in succ[inp.component]:
                succ[inp.component].append(cid)
    # Reachability from every bolt is quadratic, and topologies have tens of components.
    reach = {cid: _reachable(cid, succ) for cid in succ}
    reported: set[str] = set()
    for cid in succ:
        if cid in reported or cid not in reach[cid]:
            continue
        component = {other for other in reach[cid] if cid in reach[other]}
        reported |= component
        cycle = " -> ".join(_shortest_cycle(cid, succ, component))
        yield (
            f"bolts.{cid}.inputs: cycle: {cycle} "
            "(Storm allows cycles; set allow_cycles: true if this one is meant)"
        )


def _reachable(start: str, succ: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(succ[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(succ[node])
    return seen


def _shortest_cycle(start: str, succ: Mapping[str, list[str]], within: set[str]) -> list[str]:
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in succ[node]:
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if nxt in within and nxt not in parent:
                    parent[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{start!r} is on no cycle")  # callers pass a node on one


def _json_problems(value: object, path: str, ancestors: set[int]) -> Iterator[str]:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            yield f"{path}: {value} is not JSON (Storm cannot read NaN or infinity)"
        return
    if not isinstance(value, list | tuple | Mapping):
        yield f"{path}: a {type(value).__name__} is not JSON"
        return
    # YAML anchors can build a structure that contains itself.
    if id(value) in ancestors:
        yield f"{path}: contains itself"
        return
    ancestors.add(id(value))
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                yield f"{path}: key {key!r} is not a string; JSON keys are strings"
            else:
                yield from _json_problems(item, f"{path}.{key}", ancestors)
    else:
        for index, item in enumerate(value):
            yield from _json_problems(item, f"{path}.{index}", ancestors)
    ancestors.discard(id(value))
