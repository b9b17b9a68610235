"""Typed views of Nimbus's answers: field mapping, defaults for missing fields, derived values."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import thriftpy2.utils
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.operators.storm.nimbus import idl, model

s = idl.storm


def over_the_wire(struct: Any) -> Any:
    """The struct as a peer's bytes decode it: what the views really get."""
    return thriftpy2.utils.deserialize(type(struct)(), thriftpy2.utils.serialize(struct))


def supervisor(**fields: Any) -> Any:
    base = {
        "host": "node-1",
        "uptime_secs": 60,
        "num_workers": 4,
        "num_used_workers": 1,
        "supervisor_id": "sup-1",
    }
    return s.SupervisorSummary(**{**base, **fields})


def executor(component: str, host: str, port: int, start: int, end: int) -> Any:
    return s.ExecutorSummary(
        executor_info=s.ExecutorInfo(task_start=start, task_end=end),
        component_id=component,
        host=host,
        port=port,
        uptime_secs=30,
    )


def test_supervisor_summary_maps_slots_and_tolerates_missing_optionals() -> None:
    sup = model.SupervisorSummary.from_thrift(over_the_wire(supervisor()))
    assert sup == model.SupervisorSummary(
        host="node-1",
        supervisor_id="sup-1",
        uptime_secs=60,
        slots_total=4,
        slots_used=1,
        version=None,
        blacklisted=False,
    )
    assert sup.slots_free == 3
    full = supervisor(version="2.6.1", blacklisted=True, num_used_workers=6)
    sup = model.SupervisorSummary.from_thrift(over_the_wire(full))
    assert (sup.version, sup.blacklisted, sup.slots_free) == ("2.6.1", True, 0)


def test_the_version_placeholder_means_no_version() -> None:
    raw = supervisor(version=model.VERSION_NOT_PROVIDED)
    assert model.SupervisorSummary.from_thrift(raw).version is None
    raw.version = None
    assert model.SupervisorSummary.from_thrift(raw).version is None


def test_nimbus_summary_endpoint() -> None:
    raw = s.NimbusSummary(host="nimbus-0", port=6627, uptime_secs=5, isLeader=True, version="2.6")
    nimbus = model.NimbusSummary.from_thrift(over_the_wire(raw))
    assert nimbus == model.NimbusSummary("nimbus-0", 6627, 5, True, "2.6")
    assert nimbus.endpoint == "nimbus-0:6627"
    v6 = model.NimbusSummary("fd00::1", 6628, 0, False, "2.6")
    assert v6.endpoint == "[fd00::1]:6628"


def test_topology_summary_maps_every_field() -> None:
    raw = s.TopologySummary(
        id="wc-1-1700000000",
        name="wc",
        num_tasks=9,
        num_executors=7,
        num_workers=2,
        uptime_secs=100,
        status="ACTIVE",
        storm_version="2.6.1",
        sched_status="Fully scheduled",
        owner="storm",
    )
    summary = model.TopologySummary.from_thrift(over_the_wire(raw))
    assert summary == model.TopologySummary(
        id="wc-1-1700000000",
        name="wc",
        status=model.TopologyStatus.ACTIVE,
        num_tasks=9,
        num_executors=7,
        num_workers=2,
        uptime_secs=100,
        sched_status="Fully scheduled",
        owner="storm",
        storm_version="2.6.1",
    )
    assert summary.status is model.TopologyStatus.ACTIVE
    raw.sched_status = raw.owner = raw.storm_version = None
    raw.status = "SUSPENDED"
    bare = model.TopologySummary.from_thrift(over_the_wire(raw))
    assert (bare.sched_status, bare.owner, bare.storm_version) == (None, None, None)
    assert bare.status == "SUSPENDED"
    assert not isinstance(bare.status, model.TopologyStatus)


@given(st.text(max_size=20))
def test_any_status_string_is_kept(raw: str) -> None:
    status = model.TopologyStatus.parse(raw)
    assert status == raw
    assert isinstance(status, model.TopologyStatus) == (
        raw in {"ACTIVE", "INACTIVE", "REBALANCING", "KILLED"}
    )


def test_a_missing_status_is_the_empty_string() -> None:
    assert model.TopologyStatus.parse(None) == ""


def test_cluster_info_leader_totals_and_lookup() -> None:
    raw = s.ClusterSummary(
        supervisors=[
            supervisor(),
            supervisor(host="node-2", supervisor_id="sup-2", num_used_workers=4),
        ],
        topologies=[
            s.TopologySummary(
                id=f"{n}-1-1",
                name=n,
                num_tasks=1,
                num_executors=1,
                num_workers=1,
                uptime_secs=1,
                status="INACTIVE",
            )
            for n in ("a", "b")
        ],
        nimbuses=[
            s.NimbusSummary(host="n0", port=6627, uptime_secs=1, isLeader=False, version="2"),
            s.NimbusSummary(host="n1", port=6627, uptime_secs=1, isLeader=True, version="2"),
        ],
    )
    info = model.ClusterInfo.from_thrift(over_the_wire(raw))
    assert info.leader is not None and info.leader.host == "n1"
    assert (info.slots_total, info.slots_used, info.slots_free) == (8, 5, 3)
    found = info.topology("b")
    assert found is not None and found.id == "b-1-1"
    assert found.status is model.TopologyStatus.INACTIVE
    assert info.topology("c") is None
    raw.nimbuses[1].isLeader = False
    assert model.ClusterInfo.from_thrift(raw).leader is None


def test_an_empty_answer_gives_empty_views() -> None:
    info = model.ClusterInfo.from_thrift(s.ClusterSummary())
    assert info == model.ClusterInfo((), (), ())
    assert (info.slots_total, info.slots_free, info.leader) == (0, 0, None)
    page = model.SupervisorPageInfo.from_thrift(over_the_wire(s.SupervisorPageInfo()))
    assert page == model.SupervisorPageInfo((), ())
    topo = model.TopologyInfo.from_thrift(s.TopologyInfo())
    assert topo == model.TopologyInfo("", "", "", 0, (), {})
    assert (topo.workers, topo.components) == (frozenset(), {})


def test_required_fields_a_peer_left_out_become_zero_values() -> None:
    assert model.SupervisorSummary.from_thrift(s.SupervisorSummary(version=None)) == (
        model.SupervisorSummary("", "", 0, 0, 0, None, False)
    )
    assert model.NimbusSummary.from_thrift(s.NimbusSummary()) == model.NimbusSummary(
        "", 0, 0, False, ""
    )
    assert model.ExecutorSummary.from_thrift(s.ExecutorSummary()) == model.ExecutorSummary(
        "", "", 0, 0, 0, 0
    )


def test_topology_info_workers_components_and_errors() -> None:
    raw = s.TopologyInfo(
        id="wc-1-1",
        name="wc",
        uptime_secs=50,
        executors=[
            executor("words", "node-1", 6700, 1, 1),
            executor("count", "node-1", 6700, 2, 3),
            executor("count", "node-2", 6701, 4, 5),
            executor("__acker", "node-2", 6701, 6, 6),
        ],
        status="REBALANCING",
        errors={
            "count": [
                s.ErrorInfo(error="boom", error_time_secs=10, host="node-2", port=6701),
                s.ErrorInfo(error="again", error_time_secs=20),
            ],
            "words": [],
        },
        sched_status="Fully scheduled",
        owner="storm",
    )
    info = model.TopologyInfo.from_thrift(over_the_wire(raw))
    assert (info.id, info.name, info.uptime_secs) == ("wc-1-1", "wc", 50)
    assert info.status is model.TopologyStatus.REBALANCING
    assert info.workers == {("node-1", 6700), ("node-2", 6701)}
    assert info.components == {"words": 1, "count": 2}
    assert [e.component_id for e in info.executors if e.is_system] == ["__acker"]
    assert info.executors[1].num_tasks == 2
    assert info.executors[1].worker == ("node-1", 6700)
    assert info.errors == {
        "count": (
            model.ErrorInfo("boom", 10, "node-2", 6701),
            model.ErrorInfo("again", 20, None, None),
        ),
        "words": (),
    }
    assert (info.sched_status, info.owner, info.storm_version) == ("Fully scheduled", "storm", None)


def test_worker_summary_and_supervisor_page() -> None:
    worker = s.WorkerSummary(
        supervisor_id="sup-1",
        host="node-1",
        port=6700,
        topology_id="wc-1-1",
        topology_name="wc",
        num_executors=3,
        component_to_num_tasks={"count": 2, "words": 1},
        time_secs=1700000000,
        uptime_secs=40,
        owner="storm",
    )
    raw = s.SupervisorPageInfo(
        supervisor_summaries=[supervisor()], worker_summaries=[worker, s.WorkerSummary()]
    )
    page = model.SupervisorPageInfo.from_thrift(over_the_wire(raw))
    assert page.supervisors == (model.SupervisorSummary.from_thrift(supervisor()),)
    assert page.workers == (
        model.WorkerSummary(
            supervisor_id="sup-1",
            host="node-1",
            port=6700,
            topology_id="wc-1-1",
            topology_name="wc",
            num_executors=3,
            component_to_num_tasks={"count": 2, "words": 1},
            time_secs=1700000000,
            uptime_secs=40,
            owner="storm",
        ),
        model.WorkerSummary(),
    )
    assert page.workers[1].num_executors == 0
    assert page.workers[1].component_to_num_tasks == {}


def test_views_are_frozen() -> None:
    sup = model.SupervisorSummary.from_thrift(supervisor())
    with pytest.raises(dataclasses.FrozenInstanceError):
        sup.host = "elsewhere"  # type: ignore[misc]


@given(st.lists(st.tuples(st.integers(0, 64), st.integers(0, 80)), max_size=10))
def test_free_slots_never_go_negative_and_add_up(slots: list[tuple[int, int]]) -> None:
    raw = s.ClusterSummary(
        supervisors=[supervisor(num_workers=t, num_used_workers=u) for t, u in slots],
        topologies=[],
        nimbuses=[],
    )
    info = model.ClusterInfo.from_thrift(raw)
    assert info.slots_total == sum(t for t, _ in slots)
    assert info.slots_used == sum(u for _, u in slots)
    assert info.slots_free == sum(max(t - u, 0) for t, u in slots)
    assert all(sup.slots_free >= 0 for sup in info.supervisors)
