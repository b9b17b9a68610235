"""Typed views of Nimbus's answers: the structs of ``idl`` as frozen dataclasses.

thriftpy2's structs are dynamic (``Any`` to mypy), mutable, and hold ``None`` wherever the
peer left a field out. Everything past the client works with these views instead: typed,
immutable, and with one place that decides what a missing field means. Each has
``from_thrift(struct)``; they never go back to Thrift (Nimbus only sends them).

What a missing field becomes
----------------------------
- Fields the IDL marks ``required`` (names, ids, counters, ``isLeader``…) are always sent by
  a real Nimbus; should a peer omit one anyway, a view shows the zero value (``""``, ``0``,
  ``False``) rather than fail the whole listing over one field.
- ``optional`` strings (``sched_status``, ``owner``, ``storm_version``, an error's
  ``host``…) and optional numbers (an error's ``port``) become ``None``: "not said" and
  "said empty" are different answers.
- ``SupervisorSummary.version``: Storm's placeholder ``VERSION_NOT_PROVIDED`` (the IDL
  default) is ``None`` too, like an absent version.
- ``SupervisorSummary.blacklisted``: absent is ``False`` (Nimbus only sets it with a
  blacklisting scheduler).
- ``WorkerSummary``: every field is optional in the IDL, so strings and times may be
  ``None``; ``num_executors`` defaults to 0 and ``component_to_num_tasks`` to empty.
- Lists and maps become tuples and mappings (empty when absent), in the order Nimbus sent.

Topology status
---------------
``TopologyStatus`` names the statuses Storm 2.x reports. A status field is typed
``TopologyStatus | str``: a string this code does not know (a newer Storm, a fork) is kept
as the raw string instead of failing the call or being mapped to a wrong member. Since
``TopologyStatus`` is a ``StrEnum``, ``status == "ACTIVE"`` and ``status ==
TopologyStatus.ACTIVE`` both work whichever form it has, and printing shows Storm's word.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from pilothouse.operators.storm.nimbus import endpoint

#: What Storm sends as a supervisor's version when the supervisor did not report one.
VERSION_NOT_PROVIDED = "VERSION_NOT_PROVIDED"


class TopologyStatus(enum.StrEnum):
    """A topology's status as Nimbus reports it."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    REBALANCING = "REBALANCING"
    KILLED = "KILLED"

    @classmethod
    def parse(cls, raw: str | None) -> TopologyStatus | str:
        """The member for ``raw``, or ``raw`` itself when it names none (see the module doc)."""
        text = raw or ""
        try:
            return cls(text)
        except ValueError:
            return text


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclasses.dataclass(frozen=True, slots=True)
class SupervisorSummary:
    """One supervisor: a node's worker slots and how many are in use."""

    host: str
    supervisor_id: str
    uptime_secs: int
    slots_total: int
    slots_used: int
    version: str | None = None
    blacklisted: bool = False

    @property
    def slots_free(self) -> int:
        # Never negative, even if a report races a rebalance.
        return max(self.slots_total - self.slots_used, 0)

    @classmethod
    def from_thrift(cls, s: Any) -> SupervisorSummary:
        version = _opt_str(s.version)
        return cls(
            host=_str(s.host),
            supervisor_id=_str(s.supervisor_id),
            uptime_secs=_int(s.uptime_secs),
            slots_total=_int(s.num_workers),
            slots_used=_int(s.num_used_workers),
            version=None if version == VERSION_NOT_PROVIDED else version,
            blacklisted=bool(s.blacklisted),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class NimbusSummary:
    """One Nimbus of the cluster, leader or standby."""

    host: str
    port: int
    uptime_secs: int
    is_leader: bool
    version: str

    @property
    def endpoint(self) -> str:
        """``host:port`` (``[v6]:port``), the form ``endpoint.Endpoint.parse`` reads."""
        return str(endpoint.Endpoint(self.host, self.port))

    @classmethod
    def from_thrift(cls, s: Any) -> NimbusSummary:
        return cls(
            host=_str(s.host),
            port=_int(s.port),
            uptime_secs=_int(s.uptime_secs),
            is_leader=bool(s.isLeader),
            version=_str(s.version),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class TopologySummary:
    """A running topology as the cluster listing shows it."""

    id: str
    name: str
    status: TopologyStatus | str
    num_tasks: int
    num_executors: int
    num_workers: int
    uptime_secs: int
    sched_status: str | None = None
    owner: str | None = None
    storm_version: str | None = None

    @classmethod
    def from_thrift(cls, s: Any) -> TopologySummary:
        return cls(
            id=_str(s.id),
            name=_str(s.name),
            status=TopologyStatus.parse(s.status),
            num_tasks=_int(s.num_tasks),
            num_executors=_int(s.num_executors),
            num_workers=_int(s.num_workers),
            uptime_secs=_int(s.uptime_secs),
            sched_status=_opt_str(s.sched_status),
            owner=_opt_str(s.owner),
            storm_version=_opt_str(s.storm_version),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterInfo:
    """``getClusterInfo``: supervisors, topologies and Nimbuses, with slot totals."""

    supervisors: tuple[SupervisorSummary, ...]
    topologies: tuple[TopologySummary, ...]
    nimbuses: tuple[NimbusSummary, ...]

    @property
    def leader(self) -> NimbusSummary | None:
        """The Nimbus that says it leads; None during an election."""
        return next((n for n in self.nimbuses if n.is_leader), None)

    @property
    def slots_total(self) -> int:
        return sum(s.slots_total for s in self.supervisors)

    @property
    def slots_used(self) -> int:
        return sum(s.slots_used for s in self.supervisors)

    @property
    def slots_free(self) -> int:
        return sum(s.slots_free for s in self.supervisors)

    def topology(self, name: str) -> TopologySummary | None:
        """The topology called ``name`` (names are unique among running topologies)."""
        return next((t for t in self.topologies if t.name == name), None)

    @classmethod
    def from_thrift(cls, s: Any) -> ClusterInfo:
        return cls(
            supervisors=tuple(SupervisorSummary.from_thrift(x) for x in s.supervisors or ()),
            topologies=tuple(TopologySummary.from_thrift(x) for x in s.topologies or ()),
            nimbuses=tuple(NimbusSummary.from_thrift(x) for x in s.nimbuses or ()),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutorSummary:
    """One executor: the tasks ``task_start..task_end`` of a component, in one worker."""

    component_id: str
    host: str
    port: int
    task_start: int
    task_end: int
    uptime_secs: int

    @property
    def worker(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def num_tasks(self) -> int:
        return self.task_end - self.task_start + 1

    @property
    def is_system(self) -> bool:
        """Storm's own components (``__acker``, ``__system``…) have ids starting ``__``."""
        return self.component_id.startswith("__")

    @classmethod
    def from_thrift(cls, s: Any) -> ExecutorSummary:
        info = s.executor_info
        return cls(
            component_id=_str(s.component_id),
            host=_str(s.host),
            port=_int(s.port),
            task_start=_int(info.task_start if info is not None else None),
            task_end=_int(info.task_end if info is not None else None),
            uptime_secs=_int(s.uptime_secs),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An error a component reported; ``host``/``port`` locate the worker when known."""

    error: str
    error_time_secs: int
    host: str | None = None
    port: int | None = None

    @classmethod
    def from_thrift(cls, s: Any) -> ErrorInfo:
        return cls(
            error=_str(s.error),
            error_time_secs=_int(s.error_time_secs),
            host=_opt_str(s.host),
            port=_opt_int(s.port),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class TopologyInfo:
    """``getTopologyInfo``: a topology's executors and its components' recent errors."""

    id: str
    name: str
    status: TopologyStatus | str
    uptime_secs: int
    executors: tuple[ExecutorSummary, ...]
    #: Component id -> its errors, in the order Nimbus sent them.
    errors: Mapping[str, tuple[ErrorInfo, ...]]
    sched_status: str | None = None
    owner: str | None = None
    storm_version: str | None = None

    @property
    def workers(self) -> frozenset[tuple[str, int]]:
        """The ``(host, port)`` of every worker running one of the executors."""
        return frozenset(e.worker for e in self.executors)

    @property
    def components(self) -> dict[str, int]:
        """Executors per component, Storm's system components left out (see ``executors``)."""
        return dict(collections.Counter(e.component_id for e in self.executors if not e.is_system))

    @classmethod
    def from_thrift(cls, s: Any) -> TopologyInfo:
        return cls(
            id=_str(s.id),
            name=_str(s.name),
            status=TopologyStatus.parse(s.status),
            uptime_secs=_int(s.uptime_secs),
            executors=tuple(ExecutorSummary.from_thrift(e) for e in s.executors or ()),
            errors={
                _str(component): tuple(ErrorInfo.from_thrift(e) for e in errs or ())
                for component, errs in (s.errors or {}).items()
            },
            sched_status=_opt_str(s.sched_status),
            owner=_opt_str(s.owner),
            storm_version=_opt_str(s.storm_version),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerSummary:
    """One worker (a JVM in a slot) as a supervisor's page shows it; every field optional."""

    supervisor_id: str | None = None
    host: str | None = None
    port: int | None = None
    topology_id: str | None = None
    topology_name: str | None = None
    num_executors: int = 0
    component_to_num_tasks: Mapping[str, int] = dataclasses.field(default_factory=dict)
    time_secs: int | None = None
    uptime_secs: int | None = None
    owner: str | None = None

    @classmethod
    def from_thrift(cls, s: Any) -> WorkerSummary:
        return cls(
            supervisor_id=_opt_str(s.supervisor_id),
            host=_opt_str(s.host),
            port=_opt_int(s.port),
            topology_id=_opt_str(s.topology_id),
            topology_name=_opt_str(s.topology_name),
            num_executors=_int(s.num_executors),
            component_to_num_tasks={
                _str(k): _int(v) for k, v in (s.component_to_num_tasks or {}).items()
            },
            time_secs=_opt_int(s.time_secs),
            uptime_secs=_opt_int(s.uptime_secs),
            owner=_opt_str(s.owner),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class SupervisorPageInfo:
    """``getSupervisorPageInfo``: supervisors (one, or all on a host) and their workers."""

    supervisors: tuple[SupervisorSummary, ...]
    workers: tuple[WorkerSummary, ...]

    @classmethod
    def from_thrift(cls, s: Any) -> SupervisorPageInfo:
        return cls(
            supervisors=tuple(
                SupervisorSummary.from_thrift(x) for x in s.supervisor_summaries or ()
            ),
            workers=tuple(WorkerSummary.from_thrift(x) for x in s.worker_summaries or ()),
        )
