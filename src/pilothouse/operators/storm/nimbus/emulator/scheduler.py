"""Emulated supervisors and their worker slots, and where executors land.

The emulator runs no workers, but clients look at what a scheduler would have
done: ``num_workers``/``num_used_workers`` per supervisor, the host and port of
each executor, whether a topology is fully scheduled. This module is that
bookkeeping, with no I/O and no clock:

- ``Slots`` describes the fixed cluster: supervisors ``emulated-supervisor-<i>``
  (``i`` from 0; the id doubles as the host name), each with ports 6700, 6701…
  (Storm's ``supervisor.slots.ports`` default), and picks free slots for a
  topology, spreading them across supervisors the way Storm's default scheduler
  spreads workers (the supervisor with the most free slots first).
- ``place`` lays a topology's executors over its slots round-robin, with task
  ids numbered from 1 over the components sorted by id, as Storm numbers them.

A topology gets ``min(requested workers, free slots)`` slots; the state module
decides when to hand out or take back slots.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

#: Storm's first ``supervisor.slots.ports`` port.
BASE_PORT = 6700

#: A worker slot: (supervisor index, port).
Slot = tuple[int, int]


def supervisor_id(index: int) -> str:
    """The id (and host name) of the ``index``-th emulated supervisor."""
    return f"emulated-supervisor-{index}"


@dataclasses.dataclass(frozen=True, slots=True)
class Slots:
    """The cluster's worker slots: ``supervisors`` times ``per_supervisor``."""

    supervisors: int
    per_supervisor: int

    @property
    def ports(self) -> list[int]:
        return [BASE_PORT + i for i in range(self.per_supervisor)]

    @property
    def total(self) -> int:
        return self.supervisors * self.per_supervisor

    def exists(self, slot: Slot) -> bool:
        index, port = slot
        return 0 <= index < self.supervisors and BASE_PORT <= port < BASE_PORT + self.per_supervisor

    def take(self, count: int, used: Iterable[Slot]) -> list[Slot]:
        """Up to ``count`` free slots, spread across supervisors; fewer when the cluster is full."""
        taken = set(used)
        free = {
            index: [p for p in self.ports if (index, p) not in taken]
            for index in range(self.supervisors)
        }
        chosen: list[Slot] = []
        while len(chosen) < count:
            index = max(free, key=lambda i: (len(free[i]), -i), default=None)
            if index is None or not free[index]:
                break
            chosen.append((index, free[index].pop(0)))
        return chosen


@dataclasses.dataclass(frozen=True, slots=True)
class Executor:
    """One executor: its component, its task range (inclusive), and its slot if it has one."""

    component: str
    task_start: int
    task_end: int
    slot: Slot | None


def place(
    executors: Mapping[str, int], tasks: Mapping[str, int], slots: list[Slot]
) -> list[Executor]:
    """The executors of a topology over its ``slots`` (no slot for any when it has none)."""
    placed: list[Executor] = []
    next_task = 1
    for component in sorted(tasks):
        count = tasks[component]
        groups = max(1, min(executors.get(component, 1), count)) if count else 0
        size, extra = divmod(count, groups) if groups else (0, 0)
        for group in range(groups):
            length = size + (1 if group < extra else 0)
            slot = slots[len(placed) % len(slots)] if slots else None
            placed.append(Executor(component, next_task, next_task + length - 1, slot))
            next_task += length
    return placed
