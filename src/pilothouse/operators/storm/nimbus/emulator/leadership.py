"""Who leads: the leader lock, the follower's watch on its leader, the peer list.

Real Nimbus elects its leader through ZooKeeper. The emulator needs the same
observable behaviour (one leader per cluster; a follower that refuses writes,
names the leader, and takes over when the leader dies) without ZooKeeper, so:

- **The lock.** A leader holds an exclusive ``flock`` on
  ``<data_dir>/leader.lock`` for as long as it runs. The kernel releases it when
  the process dies, however it dies (SIGKILL included), so a dead leader never
  blocks its successor, and two emulators can never lead from one directory.
  ``flock`` locks belong to the open file description, so this holds between
  two servers in one process too, which is what the in-process tests use.
- **The watch.** A follower calls ``getLeader`` on its leader every
  ``probe_interval`` over a real ``connection.Connection``. When the leader has
  been unreachable for ``failover_after`` seconds *and* the lock can be taken,
  ``follow`` returns and the follower promotes itself. An unreachable leader
  that still holds the lock (a network problem, not a death) is waited out.
  Followers with their own data directory find the lock free; they promote on
  unreachability alone, as a real follower would once ZooKeeper expired the
  leader's session.
- **The peer list.** Each emulator keeps a small file under
  ``<data_dir>/nimbuses/`` fresh while it runs, so ``getClusterInfo`` can list
  the other Nimbus instances sharing the directory, the way Storm lists the
  Nimbus hosts registered in ZooKeeper. Entries not refreshed for
  ``PEER_TTL`` seconds (a killed process) are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import pathlib
import time

from pilothouse.operators.storm.nimbus import connection, errors
from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod

log = logging.getLogger(__name__)

LOCK_FILE = "leader.lock"
PEERS_DIR = "nimbuses"
#: Peers whose file is older than this are considered gone.
PEER_TTL = 5.0


class LeadershipError(Exception):
    """This emulator cannot lead (another one holds the lock)."""


class LeaderLock:
    """The exclusive ``flock`` on ``<data_dir>/leader.lock``."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this object holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # The pid is for people reading the file; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def acquire(self) -> None:
        """Take the lock or raise ``LeadershipError``."""
        if not self.try_acquire():
            raise LeadershipError(
                f"another Nimbus emulator leads from {self.data_dir} (it holds {self.path}); "
                "stop it, use another --data-dir, or start this one with --follower-of"
            )

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


@dataclasses.dataclass(frozen=True, slots=True)
class Peer:
    """Another emulator sharing the data directory."""

    endpoint: endpoint_mod.Endpoint
    started: float


class PeerRegistry:
    """``<data_dir>/nimbuses/<host>_<port>.json``, one file per running emulator."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.directory = data_dir / PEERS_DIR

    def _path(self, endpoint: endpoint_mod.Endpoint) -> pathlib.Path:
        return self.directory / f"{endpoint.host.replace(':', '_')}_{endpoint.port}.json"

    def beat(self, endpoint: endpoint_mod.Endpoint, started: float) -> None:
        """Say ``endpoint`` is alive (creates or refreshes its file)."""
        path = self._path(endpoint)
        try:
            os.utime(path)
        except FileNotFoundError:
            self.directory.mkdir(parents=True, exist_ok=True)
            doc = {"host": endpoint.host, "port": endpoint.port, "started": started}
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, path)

    def leave(self, endpoint: endpoint_mod.Endpoint) -> None:
        self._path(endpoint).unlink(missing_ok=True)

    def peers(self) -> list[Peer]:
        """The emulators whose files are fresh, sorted by endpoint."""
        found: list[Peer] = []
        now = time.time()
        for path in self.directory.glob("*.json") if self.directory.exists() else []:
            try:
                if now - path.stat().st_mtime > PEER_TTL:
                    continue
                doc = json.loads(path.read_text())
                peer = Peer(endpoint_mod.Endpoint(doc["host"], int(doc["port"])), doc["started"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # vanished or half-written: it will be back on the next beat
            found.append(peer)
        return sorted(found, key=lambda p: p.endpoint)


async def _probe(
    leader: endpoint_mod.Endpoint, conn: connection.Connection | None, timeout: float
) -> tuple[bool, connection.Connection | None]:
    """Whether the leader answered ``getLeader``; the connection to reuse next time."""
    try:
        if conn is None or conn.broken:
            conn = await connection.Connection.open(leader, timeout=timeout)
        await conn.call("getLeader", timeout)
        return True, conn
    except errors.NimbusRejected:
        # It answered, even if with an error: it is alive.
        return True, conn
    except errors.NimbusError:
        if conn is not None:
            await conn.close()
        return False, None


async def follow(
    leader: endpoint_mod.Endpoint,
    lock: LeaderLock,
    *,
    probe_interval: float,
    failover_after: float,
) -> None:
    """Watch ``leader``; return once it is gone and ``lock`` is held, i.e. time to lead."""
    timeout = max(probe_interval, failover_after / 2)
    last_seen = time.monotonic()
    conn: connection.Connection | None = None
    try:
        while True:
            alive, conn = await _probe(leader, conn, timeout)
            if alive:
                last_seen = time.monotonic()
            elif time.monotonic() - last_seen >= failover_after and lock.try_acquire():
                log.warning(
                    "leader %s unreachable for %.1fs and its lock is free: taking over",
                    leader,
                    time.monotonic() - last_seen,
                )
                return
            await asyncio.sleep(probe_interval)
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
