"""How an emulated Nimbus is set up: one frozen ``EmulatorConfig``.

The defaults are Storm 2.x's own (``nimbus.thrift.port`` 6627,
``nimbus.thrift.max_buffer_size`` 1 MiB, ``nimbus.file.copy.expiration.secs``
600, ``nimbus.inbox.jar.expiration.secs`` 3600, ``topology.message.timeout.secs``
30), so a client tuned against the emulator behaves the same against a real
cluster. ``validated`` is the one place values are checked: the CLI turns its
``ValueError`` into a usage error, tests get it at construction.

``clock`` is the wall clock every timed rule reads (kill and rebalance waits,
upload and inbox expiry). Deadlines are persisted as wall-clock times so they
survive a restart; tests inject a fake clock to cross them without waiting.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Callable

from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import wire

#: The smallest frame limit that still fits every answer but blob chunks (which shrink to fit).
MIN_MAX_FRAME = 64 * 1024


@dataclasses.dataclass(frozen=True)
class EmulatorConfig:
    """Everything an ``EmulatorServer`` needs; ``data_dir`` holds all of its state."""

    data_dir: pathlib.Path
    host: str = "127.0.0.1"
    #: 0 picks a free port; ``EmulatorServer.endpoint`` tells which.
    port: int = 0
    supervisors: int = 2
    slots_per_supervisor: int = 4
    #: Set for a follower: the leader it defers to, probes, and replaces when it dies.
    follower_of: endpoint_mod.Endpoint | None = None
    #: ``nimbus.thrift.max_buffer_size``: larger frames close the connection.
    max_frame: int = wire.DEFAULT_MAX_FRAME
    #: ``nimbus.file.copy.expiration.secs``: an upload idle this long is dropped.
    upload_expiration_secs: float = 600.0
    #: ``nimbus.inbox.jar.expiration.secs``: a finished, unsubmitted JAR is deleted after this.
    inbox_expiration_secs: float = 3600.0
    #: A follower promotes itself once the leader has been unreachable this long.
    failover_after: float = 2.0
    #: How often a follower probes its leader.
    probe_interval: float = 0.2
    storm_version: str = "2.6.2"
    #: ``topology.message.timeout.secs``: the default wait of kill and rebalance.
    kill_wait_default: int = 30
    clock: Callable[[], float] = dataclasses.field(default=time.time, compare=False)

    def validated(self) -> EmulatorConfig:
        """This config with ``data_dir`` made absolute; ``ValueError`` naming any bad value."""
        problems: list[str] = []
        if not 0 <= self.port < 65536:
            problems.append(f"port must be 0-65535, not {self.port}")
        if self.supervisors < 0:
            problems.append(f"supervisors must be >= 0, not {self.supervisors}")
        if self.slots_per_supervisor < 1:
            problems.append(f"slots per supervisor must be >= 1, not {self.slots_per_supervisor}")
        if self.max_frame < MIN_MAX_FRAME:
            problems.append(f"max buffer size must be >= {MIN_MAX_FRAME}, not {self.max_frame}")
        for name in ("upload_expiration_secs", "inbox_expiration_secs", "failover_after"):
            if getattr(self, name) <= 0:
                problems.append(f"{name.replace('_', ' ')} must be > 0, not {getattr(self, name)}")
        if self.probe_interval <= 0:
            problems.append(f"probe interval must be > 0, not {self.probe_interval}")
        if self.kill_wait_default < 0:
            problems.append(f"kill wait default must be >= 0, not {self.kill_wait_default}")
        if not self.host:
            problems.append("host must not be empty")
        if self.data_dir.exists() and not self.data_dir.is_dir():
            problems.append(f"data dir {self.data_dir} exists and is not a directory")
        if problems:
            raise ValueError("; ".join(problems))
        return dataclasses.replace(self, data_dir=self.data_dir.absolute())

    @property
    def is_follower(self) -> bool:
        return self.follower_of is not None
