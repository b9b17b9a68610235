"""The emulator's state as the Thrift structs Nimbus answers with.

Pure functions from ``state``/``scheduler`` objects to ``idl.storm`` structs,
so the handlers stay one line of logic each and the shapes are in one place.
What the emulator cannot know it reports the way an idle Storm cluster would:
no errors, no stats, zero resources. There are no system components (ackers,
event loggers, metrics consumers): executor and task counts are the user's
components only, and ``is_include_sys`` changes nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import idl
from pilothouse.operators.storm.nimbus.emulator import scheduler, state


def topology_summary(t: state.Topology, now: float, version: str) -> Any:
    return idl.storm.TopologySummary(
        id=t.id,
        name=t.name,
        num_tasks=t.num_tasks,
        num_executors=t.num_executors,
        num_workers=len(t.slots),
        uptime_secs=t.uptime(now),
        status=t.status.value,
        storm_version=version,
        sched_status=t.sched_status,
        replication_count=1,
    )


def topology_info(t: state.Topology, now: float, version: str, uptime: int) -> Any:
    executors = [
        idl.storm.ExecutorSummary(
            executor_info=idl.storm.ExecutorInfo(task_start=e.task_start, task_end=e.task_end),
            component_id=e.component,
            host=scheduler.supervisor_id(e.slot[0]),
            port=e.slot[1],
            uptime_secs=min(uptime, t.uptime(now)),
        )
        for e in t.placement()
        if e.slot is not None
    ]
    return idl.storm.TopologyInfo(
        id=t.id,
        name=t.name,
        uptime_secs=t.uptime(now),
        executors=executors,
        status=t.status.value,
        errors={component: [] for component in sorted(t.tasks)},
        component_debug={},
        storm_version=version,
        sched_status=t.sched_status,
        replication_count=1,
    )


def _used_per_supervisor(cluster: state.ClusterState) -> Counter[int]:
    return Counter(index for index, _ in cluster.used_slots())


def supervisor_summary(
    cluster: state.ClusterState, index: int, uptime: int, version: str, used: int
) -> Any:
    name = scheduler.supervisor_id(index)
    return idl.storm.SupervisorSummary(
        host=name,
        uptime_secs=uptime,
        num_workers=cluster.slots.per_supervisor,
        num_used_workers=used,
        supervisor_id=name,
        version=version,
        total_resources={},
        used_mem=0.0,
        used_cpu=0.0,
        blacklisted=False,
    )


def supervisor_summaries(cluster: state.ClusterState, uptime: int, version: str) -> list[Any]:
    used = _used_per_supervisor(cluster)
    return [
        supervisor_summary(cluster, i, uptime, version, used[i])
        for i in range(cluster.slots.supervisors)
    ]


def supervisor_page(
    cluster: state.ClusterState, indexes: list[int], now: float, uptime: int, version: str
) -> Any:
    """``getSupervisorPageInfo`` for the given supervisors: them, and their workers."""
    used = _used_per_supervisor(cluster)
    workers: list[Any] = []
    for topology in cluster.sorted_topologies():
        placement = topology.placement()
        for slot in topology.slots:
            if slot[0] not in indexes:
                continue
            here = [e for e in placement if e.slot == slot]
            tasks: Counter[str] = Counter()
            for e in here:
                tasks[e.component] += e.task_end - e.task_start + 1
            workers.append(
                idl.storm.WorkerSummary(
                    supervisor_id=scheduler.supervisor_id(slot[0]),
                    host=scheduler.supervisor_id(slot[0]),
                    port=slot[1],
                    topology_id=topology.id,
                    topology_name=topology.name,
                    num_executors=len(here),
                    component_to_num_tasks=dict(tasks),
                    time_secs=int(now),
                    uptime_secs=min(uptime, topology.uptime(now)),
                )
            )
    return idl.storm.SupervisorPageInfo(
        supervisor_summaries=[
            supervisor_summary(cluster, i, uptime, version, used[i]) for i in indexes
        ],
        worker_summaries=workers,
    )


def nimbus_summary(where: endpoint_mod.Endpoint, uptime: int, is_leader: bool, version: str) -> Any:
    return idl.storm.NimbusSummary(
        host=where.host, port=where.port, uptime_secs=uptime, isLeader=is_leader, version=version
    )
