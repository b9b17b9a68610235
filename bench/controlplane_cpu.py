"""CPU accounting for the control-plane bench: CPU time of this process, the replica
processes and the etcd members (from ``/proc``). On a 2-core machine the paths compete for
the same cores, so CPU per op is what throughput is made of."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass


def parse_proc_stat(text: str) -> tuple[int, int]:
    """``(ppid, utime + stime in clock ticks)`` from a ``/proc/<pid>/stat`` line. The
    command name (field 2) is in parentheses and may hold spaces or parentheses itself,
    so fields are counted after its last ``)``."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return int(rest[1]), int(rest[11]) + int(rest[12])


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, int] | None:
    try:
        return parse_proc_stat(pathlib.Path(f"/proc/{pid}/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def children(pids: Sequence[int]) -> list[int]:
    """The processes whose parent is one of ``pids`` (a scan of ``/proc``)."""
    wanted, out = set(pids), []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = _stat(int(entry.name))
        if st is not None and st[0] in wanted:
            out.append(int(entry.name))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    return sum(st[1] for pid in pids if (st := _stat(pid)) is not None) / _TICK


@dataclass(slots=True)
class CpuGroups:
    """CPU seconds used by this process, the replica processes and their etcd members."""

    replica_pids: list[int]
    etcd_pids: list[int]

    @classmethod
    def of(cls, replica_pids: Sequence[int]) -> CpuGroups:
        return cls(list(replica_pids), children(replica_pids))

    def read(self) -> dict[str, float]:
        return {
            "bench": cpu_seconds([os.getpid()]),
            "replicas": cpu_seconds(self.replica_pids),
            "etcd": cpu_seconds(self.etcd_pids),
        }
