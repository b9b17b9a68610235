"""The emulated cluster's topologies: statuses, timed transitions, slots, ids.

``ClusterState`` is a plain in-memory model with no I/O: every method takes
``now`` (wall-clock seconds) and every change bumps ``revision``, so the server
knows when to persist (``to_json``/``from_json``; ``store`` writes the file).

Status transitions follow Storm 2.x's ``TopologyStateTransition``:

- ``activate``/``deactivate`` move ACTIVE ⇄ INACTIVE and are idempotent; on a
  KILLED or REBALANCING topology they change nothing (Storm logs "no
  transition" and carries on).
- ``kill`` → KILLED until ``now + wait``, then the topology is removed and its
  slots freed. Killing a KILLED topology again sets a new deadline (Storm does
  the same), which is how a long wait is cut short.
- ``rebalance`` → REBALANCING until ``now + wait``, then the topology returns
  to the status it had, with the new workers, executors and conf. A rebalance
  of a topology already rebalancing changes nothing (no such transition in
  Storm); of a KILLED one it is refused as not alive.

Deadlines are absolute wall-clock times, kept in the persisted state, so a
restarted emulator resumes a kill or rebalance where it was (and applies it at
once when the deadline passed while it was down). Every method applies due
deadlines first and last, so a wait of 0 completes before the call returns.

Slots: a topology holds ``min(topology.workers, free)`` slots. Whenever slots
free up, ACTIVE and INACTIVE topologies short of workers get them, oldest
first; KILLED and REBALANCING ones never grow (the first is going away, the
second is reassigned when its rebalance completes).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from typing import Any

from pilothouse.operators.storm.nimbus import errors
from pilothouse.operators.storm.nimbus.emulator import scheduler, validation

FORMAT_VERSION = 1

#: Keys of the topology conf the emulator reads.
WORKERS = "topology.workers"
MESSAGE_TIMEOUT = "topology.message.timeout.secs"
NAME = "topology.name"


class Status(enum.StrEnum):
    """Topology statuses, spelled as Storm's summaries spell them."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    REBALANCING = "REBALANCING"
    KILLED = "KILLED"


@dataclasses.dataclass
class Rebalance:
    """What a rebalance applies when its wait is over."""

    num_workers: int | None = None
    num_executors: dict[str, int] = dataclasses.field(default_factory=dict)
    conf_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Topology:
    """One submitted topology; the code and JAR live on disk, not here."""

    id: str
    name: str
    status: Status
    launched: float
    conf: dict[str, Any]
    #: Component id -> executors; tasks never change after submission.
    executors: dict[str, int]
    tasks: dict[str, int]
    slots: list[scheduler.Slot] = dataclasses.field(default_factory=list)
    #: When the pending KILLED or REBALANCING transition completes.
    deadline: float | None = None
    #: The status a rebalance returns to.
    resume: Status | None = None
    rebalance: Rebalance | None = None

    @property
    def workers(self) -> int:
        """``topology.workers``: the slots the topology wants."""
        return int(self.conf.get(WORKERS, 1))

    @property
    def num_executors(self) -> int:
        return sum(self.executors.values())

    @property
    def num_tasks(self) -> int:
        return sum(self.tasks.values())

    @property
    def message_timeout(self) -> int:
        return int(self.conf.get(MESSAGE_TIMEOUT, 30))

    @property
    def sched_status(self) -> str:
        if len(self.slots) >= self.workers:
            return "Fully Scheduled"
        return (
            f"Not enough free slots: scheduled {len(self.slots)} of {self.workers} workers "
            "(the emulated supervisors are full)"
        )

    def placement(self) -> list[scheduler.Executor]:
        return scheduler.place(self.executors, self.tasks, self.slots)

    def uptime(self, now: float) -> int:
        return max(0, int(now - self.launched))


class ClusterState:
    """All topologies of one emulated cluster, and the counter that numbers their ids."""

    def __init__(self, slots: scheduler.Slots) -> None:
        self.slots = slots
        self.topologies: dict[str, Topology] = {}
        self.next_number = 1
        self.revision = 0
        #: Ids removed since the owner last drained them (their files are to be deleted).
        self.removed: list[str] = []

    # -- lookups ---------------------------------------------------------------------------

    def by_name(self, name: str) -> Topology | None:
        return next((t for t in self.topologies.values() if t.name == name), None)

    def named(self, name: str) -> Topology:
        """The topology called ``name``; ``NotAliveError(name)`` when there is none."""
        topology = self.by_name(name)
        if topology is None:
            raise errors.NotAliveError(name)
        return topology

    def with_id(self, topology_id: str) -> Topology:
        """The topology with this id; ``NotAliveError(id)`` when there is none."""
        topology = self.topologies.get(topology_id)
        if topology is None:
            raise errors.NotAliveError(topology_id)
        return topology

    def used_slots(self) -> set[scheduler.Slot]:
        return {slot for t in self.topologies.values() for slot in t.slots}

    def sorted_topologies(self) -> Iterator[Topology]:
        return iter(sorted(self.topologies.values(), key=lambda t: (t.launched, t.id)))

    def next_deadline(self) -> float | None:
        deadlines = [t.deadline for t in self.topologies.values() if t.deadline is not None]
        return min(deadlines, default=None)

    def drain_removed(self) -> list[str]:
        removed, self.removed = self.removed, []
        return removed

    # -- transitions ---------------------------------------------------------------------------

    def allocate_id(self, name: str, now: float) -> str:
        """A fresh id, ``name-<n>-<epochsecs>`` as Storm forms them; ``n`` never repeats."""
        topology_id = f"{name}-{self.next_number}-{int(now)}"
        self.next_number += 1
        self.revision += 1
        return topology_id

    def submit(
        self,
        topology_id: str,
        name: str,
        conf: dict[str, Any],
        components: list[validation.Component],
        status: Status,
        now: float,
    ) -> Topology:
        """Add a topology under an id from ``allocate_id``; ``conf`` is merged with defaults."""
        self.advance(now)
        if self.by_name(name) is not None:
            raise errors.AlreadyAliveError(f"Topology with name `{name}` already exists on cluster")
        if topology_id in self.topologies:
            raise ValueError(f"topology id {topology_id} is in use")
        topology = Topology(
            id=topology_id,
            name=name,
            status=status,
            launched=now,
            conf=conf,
            executors={c.id: c.executors for c in components},
            tasks={c.id: c.tasks for c in components},
        )
        topology.slots = self.slots.take(topology.workers, self.used_slots())
        self.topologies[topology_id] = topology
        self._changed(now)
        return topology

    def activate(self, name: str, now: float) -> None:
        self._toggle(name, Status.INACTIVE, Status.ACTIVE, now)

    def deactivate(self, name: str, now: float) -> None:
        self._toggle(name, Status.ACTIVE, Status.INACTIVE, now)

    def _toggle(self, name: str, source: Status, target: Status, now: float) -> None:
        self.advance(now)
        topology = self.named(name)
        if topology.status is source:
            topology.status = target
            self._changed(now)

    def kill(self, name: str, wait_secs: int | None, now: float) -> Topology:
        """KILLED now, removed after ``wait_secs`` (default: ``topology.message.timeout.secs``)."""
        self.advance(now)
        topology = self.named(name)
        wait = topology.message_timeout if wait_secs is None else max(0, wait_secs)
        topology.status = Status.KILLED
        topology.deadline = now + wait
        topology.resume = None
        topology.rebalance = None
        self._changed(now)
        return topology

    def rebalance(self, name: str, wait_secs: int | None, plan: Rebalance, now: float) -> Topology:
        """REBALANCING for ``wait_secs``, then ``plan`` applied and the old status back."""
        self.advance(now)
        topology = self.named(name)
        if topology.status is Status.KILLED:
            raise errors.NotAliveError(name)
        if plan.num_workers is not None:
            validation.positive_int(plan.num_workers, "Number of workers")
        unknown = sorted(set(plan.num_executors) - set(topology.tasks))
        if unknown:
            raise errors.InvalidTopologyError(
                f"Tried to rebalance executors for unknown component(s): {unknown}"
            )
        for component, count in plan.num_executors.items():
            validation.positive_int(count, f"Number of executors of [{component}]")
        if topology.status is Status.REBALANCING:
            return topology
        wait = topology.message_timeout if wait_secs is None else max(0, wait_secs)
        topology.resume = topology.status
        topology.status = Status.REBALANCING
        topology.deadline = now + wait
        topology.rebalance = plan
        self._changed(now)
        return topology

    def advance(self, now: float) -> bool:
        """Complete every transition due by ``now``, in deadline order; True if any was."""
        due = sorted(
            (t for t in self.topologies.values() if t.deadline is not None and t.deadline <= now),
            key=lambda t: (t.deadline, t.id),
        )
        for topology in due:
            if topology.status is Status.KILLED:
                del self.topologies[topology.id]
                self.removed.append(topology.id)
            else:
                self._finish_rebalance(topology)
        if due:
            self._reschedule()
            self.revision += 1
        return bool(due)

    def _finish_rebalance(self, topology: Topology) -> None:
        plan = topology.rebalance or Rebalance()
        if plan.num_workers is not None:
            topology.conf[WORKERS] = plan.num_workers
        topology.conf.update(plan.conf_overrides)
        for component, count in plan.num_executors.items():
            topology.executors[component] = min(count, topology.tasks[component])
        topology.status = topology.resume or Status.ACTIVE
        topology.deadline = topology.resume = topology.rebalance = None
        topology.slots = []
        topology.slots = self.slots.take(topology.workers, self.used_slots())

    def _reschedule(self) -> None:
        for topology in self.sorted_topologies():
            short = topology.workers - len(topology.slots)
            if short > 0 and topology.status in (Status.ACTIVE, Status.INACTIVE):
                topology.slots += self.slots.take(short, self.used_slots())

    def _changed(self, now: float) -> None:
        self.revision += 1
        self.advance(now)

    # -- persistence ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "next_number": self.next_number,
            "topologies": [_topology_to_json(t) for t in self.sorted_topologies()],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], slots: scheduler.Slots) -> ClusterState:
        """The state ``to_json`` wrote, fitted to ``slots`` (which may have changed since)."""
        if doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown state format {doc.get('format')!r}")
        state = cls(slots)
        state.next_number = int(doc["next_number"])
        seen: set[scheduler.Slot] = set()
        for item in doc["topologies"]:
            topology = _topology_from_json(item)
            # Fewer supervisors than last time: those slots are gone; rescheduling fills in.
            kept = [s for s in topology.slots if slots.exists(s) and s not in seen]
            topology.slots = kept
            seen.update(kept)
            state.topologies[topology.id] = topology
        state._reschedule()
        return state


def _topology_to_json(t: Topology) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "status": t.status.value,
        "launched": t.launched,
        "conf": t.conf,
        "executors": t.executors,
        "tasks": t.tasks,
        "slots": [list(s) for s in t.slots],
        "deadline": t.deadline,
        "resume": t.resume.value if t.resume else None,
        "rebalance": dataclasses.asdict(t.rebalance) if t.rebalance else None,
    }


def _topology_from_json(item: dict[str, Any]) -> Topology:
    plan = item.get("rebalance")
    return Topology(
        id=item["id"],
        name=item["name"],
        status=Status(item["status"]),
        launched=float(item["launched"]),
        conf=dict(item["conf"]),
        executors={k: int(v) for k, v in item["executors"].items()},
        tasks={k: int(v) for k, v in item["tasks"].items()},
        slots=[(int(i), int(p)) for i, p in item["slots"]],
        deadline=item.get("deadline"),
        resume=Status(item["resume"]) if item.get("resume") else None,
        rebalance=Rebalance(**plan) if plan else None,
    )
