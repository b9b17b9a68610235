"""One emulated Nimbus, minus the network: its state, files, role and upkeep.

``EmulatedNimbus`` ties together what the Thrift handlers (``handler``) work
on: the in-memory ``ClusterState`` and the ``Store`` it persists to, the upload
``Inbox``, blob ``Downloads``, and whether this instance leads. The TCP server
(``server``) owns one and adds sockets and background tasks.

Roles and the state they see:

- A **leader** owns the data directory: it applies due transitions before every
  call (``prepare``), persists after every change (``persist``: only when the
  state's revision moved, so reads never write), deletes the files of removed
  topologies after the state stopped naming them, and runs ``maintain``
  periodically (timed transitions, upload and inbox expiry).
- A **follower** never writes. Before each call it reloads ``state.json`` if
  the file changed (``refresh``), so its reads are the leader's last persisted
  state. ``become_leader`` turns it into a leader: reload, clean up what a dead
  leader left (``.part`` uploads, unnamed topology directories), carry on.
"""

from __future__ import annotations

import json
import logging
import pathlib
import time
from typing import Any

from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import errors
from pilothouse.operators.storm.nimbus.emulator import config as config_mod
from pilothouse.operators.storm.nimbus.emulator import (
    downloads,
    inbox,
    leadership,
    scheduler,
    state,
    store,
)

log = logging.getLogger(__name__)

_INTERNAL_ERROR = 6  # TApplicationException.INTERNAL_ERROR
# Room in a reply frame for everything but a blob chunk's bytes.
_FRAME_OVERHEAD = 4096


class EmulatedNimbus:
    """The state and rules of one emulated Nimbus; ``handler`` calls into it."""

    def __init__(self, config: config_mod.EmulatorConfig) -> None:
        self.config = config
        self.clock = config.clock
        self.store = store.Store(config.data_dir)
        self.slots = scheduler.Slots(config.supervisors, config.slots_per_supervisor)
        self.state = state.ClusterState(self.slots)
        self.inbox = inbox.Inbox(
            config.data_dir / "inbox",
            config.clock,
            config.upload_expiration_secs,
            config.inbox_expiration_secs,
        )
        self.downloads = downloads.Downloads(
            config.clock,
            config.upload_expiration_secs,
            min(downloads.CHUNK_SIZE, config.max_frame - _FRAME_OVERHEAD),
        )
        self.peers = leadership.PeerRegistry(config.data_dir)
        self.is_leader = False
        #: Where this instance listens; set by the server once bound.
        self.endpoint = endpoint_mod.Endpoint(config.host, config.port)
        self.started_monotonic = time.monotonic()
        self.started_wall = time.time()
        self._saved_revision = 0
        self._signature: tuple[int, int, int] | None = None

    # -- time and identity ---------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def uptime(self) -> int:
        return int(time.monotonic() - self.started_monotonic)

    @property
    def leader(self) -> endpoint_mod.Endpoint:
        """The endpoint this instance believes leads: itself, or the one it follows."""
        if self.is_leader or self.config.follower_of is None:
            return self.endpoint
        return self.config.follower_of

    def default_conf(self) -> dict[str, Any]:
        """What a topology's conf holds unless the submitter set it."""
        return {
            state.WORKERS: 1,
            state.MESSAGE_TIMEOUT: self.config.kill_wait_default,
            "topology.debug": False,
            "topology.max.spout.pending": None,
            "topology.acker.executors": None,
            "topology.tasks": None,
            "storm.version": self.config.storm_version,
        }

    def nimbus_conf(self) -> dict[str, Any]:
        """``getNimbusConf``: the daemon settings a client may read."""
        hosts = sorted({e.host for e in self.nimbus_endpoints()})
        return {
            **self.default_conf(),
            "nimbus.seeds": hosts,
            "nimbus.thrift.port": self.endpoint.port,
            "nimbus.thrift.max_buffer_size": self.config.max_frame,
            "nimbus.file.copy.expiration.secs": self.config.upload_expiration_secs,
            "nimbus.inbox.jar.expiration.secs": self.config.inbox_expiration_secs,
            "supervisor.slots.ports": self.slots.ports,
            "storm.local.dir": str(self.config.data_dir),
            "storm.cluster.mode": "distributed",
            "pilothouse.emulator": True,
        }

    def nimbus_endpoints(self) -> list[endpoint_mod.Endpoint]:
        """This instance, the leader, and the live peers sharing the data directory."""
        found = {self.endpoint, self.leader}
        found.update(p.endpoint for p in self.peers.peers())
        return sorted(found)

    # -- state lifecycle -------------------------------------------------------------------

    def load(self) -> None:
        """Replace the in-memory state with ``state.json`` (empty when there is none)."""
        self._signature = self.store.signature()
        doc = self.store.read_state()
        self.state = (
            state.ClusterState(self.slots)
            if doc is None
            else state.ClusterState.from_json(doc, self.slots)
        )
        self._saved_revision = self.state.revision

    def refresh(self) -> None:
        """Follower: reload when the leader replaced ``state.json``."""
        if self.store.signature() != self._signature:
            self.load()

    def become_leader(self) -> None:
        """Take over the data directory (the caller holds the leader lock)."""
        self.store.ensure_dirs()
        self.inbox.ensure_dir()
        self.load()
        self.is_leader = True
        cleared = self.inbox.clear_partial()
        if cleared:
            log.info("deleted %d unfinished upload(s) of a previous run", cleared)
        self.state.advance(self.now())
        self.persist(force=True)
        stale = self.store.prune(self.state.topologies)
        if stale:
            log.info("deleted files of %d topologies the state does not name", len(stale))

    def persist(self, force: bool = False) -> None:
        """Leader: write the state if it changed, then delete removed topologies' files."""
        if not self.is_leader:
            return
        if force or self.state.revision != self._saved_revision:
            self.store.write_state(self.state.to_json())
            self._saved_revision = self.state.revision
            self._signature = self.store.signature()
        self.store.remove(self.state.drain_removed())

    def prepare(self, leader_only: bool) -> None:
        """Before a call: refuse writes on a follower, bring the state up to date."""
        if not self.is_leader:
            if leader_only:
                raise errors.ApplicationError(
                    f"not a leader, current leader is {self.leader}", _INTERNAL_ERROR
                )
            self.refresh()
            return
        if self.state.advance(self.now()):
            self.persist()

    def maintain(self) -> None:
        """Leader upkeep: due transitions, idle uploads and downloads, old inbox JARs."""
        if not self.is_leader:
            self.refresh()
            return
        self.state.advance(self.now())
        self.persist()
        self.inbox.sweep()
        self.downloads.sweep()

    def close(self) -> None:
        self.inbox.close()

    # -- blobs -------------------------------------------------------------------------------

    def blob_source(self, key: str) -> pathlib.Path | bytes:
        """What blob ``key`` reads: a path or bytes; ``KeyNotFoundError(key)`` if none."""
        for topology in self.state.topologies.values():
            if key == f"{topology.id}-stormjar.jar":
                return self.store.jar_path(topology.id)
            if key == f"{topology.id}-stormcode.ser":
                return self.store.code_path(topology.id)
            if key == f"{topology.id}-stormconf.ser":
                return json.dumps(topology.conf, sort_keys=True).encode()
        raise errors.KeyNotFoundError(key)
