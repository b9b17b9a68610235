"""Our storm.thrift against an independent copy of Apache Storm's storm.thrift.

streamparse ships Storm 1.1.1's IDL as a string inside ``streamparse/thrift.py``. It is
read with ``ast`` (never imported: streamparse's own imports need packages we do not
install) and loaded by thriftpy2. Every struct and method both IDLs have must agree on
every shared field id: same name, same type, same requiredness. Ids that only we have
must be Storm 2.x additions, listed here so a typo cannot hide among them.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import pathlib
from typing import Any

import pytest
import thriftpy2

from pilothouse.operators.storm.nimbus import idl

# Fields Storm added after 1.1.1, by struct (checked by hand against Storm 2.x's storm.thrift).
STORM2_ADDITIONS: dict[str, set[int]] = {
    "Credentials": {2},
    "RebalanceOptions": {4, 5, 6},
    "StormTopology": {9, 10},
    "SupervisorSummary": {10, 11, 12, 13},
    "TopologyInfo": {8},
    "TopologySummary": {8, 9, 527, 528},
    "WorkerSummary": {527},
}
STORM2_STRUCTS = {"IllegalStateException", "SharedMemory"}
STORM2_METHODS = {"getTopologySummaries", "getTopologySummaryByName", "getTopologySummaryById"}


@pytest.fixture(scope="module")
def theirs() -> Any:
    spec = importlib.util.find_spec("streamparse")
    assert spec is not None and spec.submodule_search_locations, "streamparse is not installed"
    source = pathlib.Path(next(iter(spec.submodule_search_locations))) / "thrift.py"
    tree = ast.parse(source.read_text())
    text = next(
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "_THRIFT_STR"
        and isinstance(node.value, ast.Constant)
    )
    return thriftpy2.load_fp(io.StringIO(text), module_name="streamparse_storm_thrift")


def _structs(module: Any) -> dict[str, Any]:
    return {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, type) and hasattr(obj, "thrift_spec") and name != "Nimbus"
    }


def _shape(spec: tuple[Any, ...]) -> tuple[Any, ...]:
    # (ttype, name, …, required): nested type info holds classes of each module, so compare
    # the type codes and names, recursively for containers.
    ttype, name = spec[0], spec[1]
    inner = spec[2] if len(spec) == 4 else None
    return (ttype, name, _inner(inner), spec[-1])


def _inner(info: Any) -> Any:
    if isinstance(info, tuple):
        return tuple(_inner(part) for part in info)
    if isinstance(info, type):
        return info.__name__
    return info


def test_every_struct_we_share_with_storm_agrees_field_by_field(theirs: Any) -> None:
    ours, other = _structs(idl.storm), _structs(theirs)
    shared = sorted(set(ours) & set(other))
    assert len(shared) >= 35, shared
    assert set(ours) - set(other) == STORM2_STRUCTS
    for name in shared:
        mine, upstream = ours[name].thrift_spec, other[name].thrift_spec
        for field_id, spec in mine.items():
            if field_id in upstream:
                assert _shape(spec) == _shape(upstream[field_id]), (name, field_id)
            else:
                assert field_id in STORM2_ADDITIONS.get(name, set()), (name, field_id)


def test_every_method_we_share_with_storm_has_the_same_arguments_and_exceptions(
    theirs: Any,
) -> None:
    ours = idl.Nimbus.thrift_services
    assert set(ours) - set(theirs.Nimbus.thrift_services) == STORM2_METHODS
    for method in set(ours) & set(theirs.Nimbus.thrift_services):
        for suffix in ("_args", "_result"):
            mine = getattr(idl.Nimbus, method + suffix).thrift_spec
            upstream = getattr(theirs.Nimbus, method + suffix).thrift_spec
            assert {k: _shape(v) for k, v in mine.items()} == {
                k: _shape(v) for k, v in upstream.items()
            }, (method, suffix)


def test_storm_2_fields_we_rely_on_keep_their_ids() -> None:
    # Not in the 1.1.1 copy, so pinned here from Storm 2.x's storm.thrift.
    summary = idl.storm.TopologySummary.thrift_spec
    assert summary[513][1] == "sched_status"
    assert summary[514][1] == "owner"
    assert idl.storm.ClusterSummary.thrift_spec.keys() == {1, 3, 4}
    assert idl.storm.BeginDownloadResult.thrift_spec[2][1] == "session"
