"""What changes between two rings: which keys move, and how much data must be copied."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pilothouse.controlplane.ring import HashRing


@dataclass(frozen=True, slots=True)
class KeyMove:
    """One key whose replica list differs between two rings (node ids, primary first)."""

    key: str | bytes
    old: tuple[str, ...]
    new: tuple[str, ...]

    @property
    def primary_moved(self) -> bool:
        return self.old[:1] != self.new[:1]

    @property
    def added(self) -> tuple[str, ...]:
        """Nodes that must receive a copy."""
        return tuple(n for n in self.new if n not in self.old)

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(n for n in self.old if n not in self.new)


@dataclass(frozen=True, slots=True)
class RingDiff:
    total_keys: int
    moves: tuple[KeyMove, ...]

    @property
    def primary_moved(self) -> list[str | bytes]:
        return [m.key for m in self.moves if m.primary_moved]

    @property
    def copies(self) -> int:
        """(key, node) replicas the new ring has and the old one lacks: data to transfer."""
        return sum(len(m.added) for m in self.moves)


def diff(
    old: HashRing, new: HashRing, keys: Iterable[str | bytes], replicas: int | None = None
) -> RingDiff:
    """Report the keys whose replica list changed (membership or order) from ``old`` to
    ``new``. A ring with no Active node places every key nowhere (an empty list)."""

    def place(ring: HashRing, key: str | bytes) -> tuple[str, ...]:
        if not ring.active_nodes:
            return ()
        return tuple(n.id for n in ring.nodes_for(key, replicas))

    total = 0
    moves: list[KeyMove] = []
    for key in keys:
        total += 1
        before, after = place(old, key), place(new, key)
        if before != after:
            moves.append(KeyMove(key, before, after))
    return RingDiff(total, tuple(moves))
