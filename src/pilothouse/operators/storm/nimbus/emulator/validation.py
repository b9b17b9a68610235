"""What Nimbus checks before it accepts a topology: names, conf, structure.

These follow Storm 2.x (``Nimbus.validateTopologyName``,
``StormCommon.validateBasic`` / ``validateStructure``) closely enough that a
topology the emulator accepts is one real Nimbus accepts, and the messages read
the same ("Component: [b] subscribes from non-existent component [x]"). The
emulator also insists on a positive ``parallelism_hint`` where Storm only does
so when the component sets ``topology.tasks``: a zero-executor component can
never run, and catching it here is what tests of the client's own validation
want to compare against.

Every check raises ``errors.InvalidTopologyError``, which the server answers as
Thrift's ``InvalidTopologyException``. ``components`` then turns a valid
topology into the executor and task counts the scheduler works with.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from pilothouse.operators.storm.nimbus import errors

#: Storm's ``Nimbus.TOPOLOGY_NAME_REGEX``.
NAME_PATTERN = re.compile(r"^[^/.:\\]+$")

_SYSTEM_PREFIX = "__"


@dataclasses.dataclass(frozen=True, slots=True)
class Component:
    """A spout or bolt as the scheduler sees it."""

    id: str
    executors: int
    tasks: int


def check_name(name: str | None) -> str:
    """``name`` if Storm would accept it as a topology name."""
    if not name or not NAME_PATTERN.match(name):
        raise errors.InvalidTopologyError(f"Topology name must match {NAME_PATTERN.pattern}")
    return name


def parse_conf(text: str | None, what: str = "Topology conf") -> dict[str, Any]:
    """A JSON object from ``text``; anything else is an invalid topology."""
    try:
        value = json.loads(text or "")
    except ValueError as exc:
        raise errors.InvalidTopologyError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise errors.InvalidTopologyError(f"{what} must be a JSON object")
    return value


def positive_int(value: Any, what: str) -> int:
    """``value`` as a positive int (JSON has no int type of its own, so 2.0 counts)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise errors.InvalidTopologyError(f"{what} must be a positive integer, not {value!r}")
    if value < 1:
        raise errors.InvalidTopologyError(f"{what} must be greater than 0, not {value}")
    return int(value)


def _all_components(topology: Any) -> dict[str, tuple[str, Any]]:
    """Component id -> (kind, common), with Storm's duplicate and reserved-id checks."""
    found: dict[str, tuple[str, Any]] = {}
    duplicates: set[str] = set()
    for kind, specs in (
        ("spout", topology.spouts),
        ("bolt", topology.bolts),
        ("state_spout", topology.state_spouts),
    ):
        for component_id, spec in (specs or {}).items():
            if component_id.startswith(_SYSTEM_PREFIX):
                raise errors.InvalidTopologyError(f"{component_id} is not a valid component id.")
            if component_id in found:
                duplicates.add(component_id)
            if spec is None or spec.common is None:
                raise errors.InvalidTopologyError(f"Component: [{component_id}] has no common part")
            found[component_id] = (kind, spec.common)
    if duplicates:
        raise errors.InvalidTopologyError(f"Duplicate component ids: {sorted(duplicates)}")
    return found


def _check_streams(component_id: str, common: Any) -> None:
    for stream_id in common.streams or {}:
        if stream_id.startswith(_SYSTEM_PREFIX):
            raise errors.InvalidTopologyError(f"{stream_id} is not a valid stream id.")


def _check_inputs(component_id: str, common: Any, found: dict[str, tuple[str, Any]]) -> None:
    for stream, grouping in (common.inputs or {}).items():
        source = stream.componentId
        if source not in found:
            raise errors.InvalidTopologyError(
                f"Component: [{component_id}] subscribes from non-existent component [{source}]"
            )
        source_streams = found[source][1].streams or {}
        if stream.streamId not in source_streams:
            raise errors.InvalidTopologyError(
                f"Component: [{component_id}] subscribes from non-existent stream: "
                f"[{stream.streamId}] of component [{source}]"
            )
        if grouping is not None and grouping.fields is not None:
            declared = source_streams[stream.streamId].output_fields or []
            missing = [f for f in grouping.fields if f not in declared]
            if missing:
                raise errors.InvalidTopologyError(
                    f"Component: [{component_id}] subscribes from stream: [{stream.streamId}] "
                    f"of component [{source}] with non-existent fields: {missing}"
                )


def _component(component_id: str, common: Any) -> Component:
    hint = common.parallelism_hint
    executors = 1 if hint is None else hint
    if executors < 1:
        raise errors.InvalidTopologyError(
            f"Component: [{component_id}] has parallelism_hint {executors}; "
            "the number of executors must be greater than 0"
        )
    tasks = executors
    if common.json_conf:
        conf = parse_conf(common.json_conf, f"Component: [{component_id}] json_conf")
        if conf.get("topology.tasks") is not None:
            tasks = positive_int(conf["topology.tasks"], f"Component: [{component_id}] tasks")
    # Storm never runs more executors than tasks: the extra ones would have nothing to do.
    return Component(component_id, min(executors, tasks), tasks)


def components(topology: Any) -> list[Component]:
    """The components of a topology Nimbus would accept, sorted by id; else raises."""
    if topology is None:
        raise errors.InvalidTopologyError("no topology was submitted")
    found = _all_components(topology)
    for component_id, (kind, common) in found.items():
        _check_streams(component_id, common)
        if kind == "spout" and common.inputs:
            raise errors.InvalidTopologyError("May not declare inputs for a spout")
    for component_id, (_, common) in found.items():
        _check_inputs(component_id, common, found)
    return [_component(cid, found[cid][1]) for cid in sorted(found)]
