"""Control-plane clusters of real replica processes, for end-to-end tests and benchmarks.

:class:`ControlPlaneCluster` runs N replicas (``pilothouse controlplane serve``) as child
processes on 127.0.0.1, each with its own etcd member, and gives tests the failures they
need: SIGKILL (:meth:`~ControlPlaneCluster.kill`), SIGSTOP/SIGCONT
(:meth:`~ControlPlaneCluster.pause`, :meth:`~ControlPlaneCluster.resume`), a graceful stop
(:meth:`~ControlPlaneCluster.terminate`), restarts on the same data directory, and etcd
membership changes (:meth:`~ControlPlaneCluster.add_replica`,
:meth:`~ControlPlaneCluster.remove_replica`).

Each replica starts in a session of its own, so its process group is the replica and its
etcd child: signals go to the whole group, and a replica fails together with its member as
it would on one machine. The API is synchronous (subprocesses and polling with deadlines),
so it serves sync tests and benchmarks alike; from async code call it through
``asyncio.to_thread`` so the event loop keeps running. Nothing outlives the cluster:
:meth:`~ControlPlaneCluster.close` (also ``with``, and ``atexit`` as a last resort) kills
every process group still alive.

Each replica's stdout and stderr go to ``<base_dir>/<name>.log`` (appended across restarts);
its etcd member logs to ``<data_dir>/etcd.log``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeGuard, TypeVar

from pilothouse.controlplane import etcd as etcd_mod
from pilothouse.controlplane import membership, replica
from pilothouse.ports import LOOPBACK, free_ports

T = TypeVar("T")

_POLL = 0.05


@dataclasses.dataclass
class ReplicaProcess:
    """One replica: its ports, directories, and the process running it (if any)."""

    name: str
    grpc_port: int
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    #: ``serve`` arguments beyond the common ones (``--peers`` or ``--join``).
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    paused: bool = False
    #: Size of the log when the current process started: its serving line comes after.
    log_offset: int = 0

    @property
    def pid(self) -> int | None:
        """The replica's pid, which is also its process group id."""
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        """A process was started and has not exited (it may be paused)."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def endpoint(self) -> str:
        """The gRPC API, ``127.0.0.1:<grpc_port>``."""
        return f"{LOOPBACK}:{self.grpc_port}"

    @property
    def etcd_endpoint(self) -> str:
        """The etcd member's client endpoint, ``127.0.0.1:<client_port>``."""
        return f"{LOOPBACK}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        """The etcd member's peer URL."""
        return f"http://{LOOPBACK}:{self.peer_port}"

    @property
    def etcd_log_path(self) -> Path:
        """The etcd member's own log (appended across restarts)."""
        return self.data_dir / "etcd.log"


class ControlPlaneCluster:
    """``size`` replicas ``r0``..``r<size-1>`` under ``base_dir``; see the module docstring.

    ``extra_args`` are added to every replica's ``serve`` command line.
    """

    def __init__(
        self,
        base_dir: Path,
        size: int = 3,
        *,
        election_ms: int = replica.DEFAULT_ELECTION_MS,
        heartbeat_ms: int = replica.DEFAULT_HEARTBEAT_MS,
        extra_args: Sequence[str] = (),
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one replica, not {size}")
        self.base_dir = Path(base_dir)
        self.election_ms = election_ms
        self.heartbeat_ms = heartbeat_ms
        self.extra_args = tuple(extra_args)
        self.replicas: dict[str, ReplicaProcess] = {}
        self._next = size
        ports = free_ports(3 * size)
        for i in range(size):
            self.replicas[f"r{i}"] = self._new_replica(f"r{i}", ports[3 * i : 3 * i + 3])
        peers = ",".join(f"{r.name}={r.peer_url}" for r in self.replicas.values())
        for r in self.replicas.values():
            r.args = ("--peers", peers)
        self._closed = False
        atexit.register(self.close)

    def _new_replica(self, name: str, ports: Sequence[int]) -> ReplicaProcess:
        grpc_port, client_port, peer_port = ports
        data_dir = self.base_dir / name
        log_path = self.base_dir / f"{name}.log"
        return ReplicaProcess(name, grpc_port, client_port, peer_port, data_dir, log_path)

    # -- views -----------------------------------------------------------------------------

    @property
    def endpoints(self) -> list[str]:
        """Every replica's gRPC endpoint (running or not), in the order they were added."""
        return [r.endpoint for r in self.replicas.values()]

    @property
    def etcd_endpoints(self) -> list[str]:
        """Every replica's etcd client endpoint (running or not)."""
        return [r.etcd_endpoint for r in self.replicas.values()]

    def live(self) -> list[ReplicaProcess]:
        """The replicas that run and are not paused."""
        return [r for r in self.replicas.values() if r.running and not r.paused]

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last ``lines`` lines of the replica's log."""
        return _tail(self.replicas[name].log_path, lines)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Start every replica that is not running and wait until all of them serve.
        On failure every replica is killed and the error carries their log tails."""
        if self._closed:
            raise RuntimeError("the cluster was closed")
        pending = [r for r in self.replicas.values() if not r.running]
        try:
            for r in pending:
                self._spawn(r)
            self._wait_serving(pending, timeout)
        except BaseException:
            self.close()
            raise

    def _spawn(self, r: ReplicaProcess) -> None:
        if r.running:
            raise RuntimeError(f"replica {r.name} is already running (pid {r.pid})")
        r.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pilothouse.cli", "controlplane", "serve"]
        cmd += ["--name", r.name, "--data-dir", str(r.data_dir), "--grpc-host", LOOPBACK]
        cmd += ["--grpc-port", str(r.grpc_port), "--client-port", str(r.client_port)]
        cmd += ["--peer-port", str(r.peer_port), "--election-ms", str(self.election_ms)]
        cmd += ["--heartbeat-ms", str(self.heartbeat_ms), *r.args, *self.extra_args]
        with r.log_path.open("ab") as log:
            r.log_offset = log.tell()
            log.write(f"--- harness: starting {' '.join(cmd)}\n".encode())
            log.flush()
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            r.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        r.paused = False

    def _wait_serving(self, replicas: Sequence[ReplicaProcess], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(replicas)
        while waiting:
            for r in list(waiting):
                if self._serving(r):
                    waiting.remove(r)
                elif not r.running:
                    code = r.proc.returncode if r.proc is not None else None
                    raise RuntimeError(
                        f"replica {r.name} exited with code {code} before serving:\n"
                        + self.log_tail(r.name)
                    )
            if not waiting:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"== {r.name}:\n{self.log_tail(r.name)}" for r in waiting)
                raise TimeoutError(
                    f"replicas {[r.name for r in waiting]} not serving within {timeout}s:\n" + tails
                )
            time.sleep(_POLL)

    @staticmethod
    def _serving(r: ReplicaProcess) -> bool:
        try:
            with r.log_path.open("rb") as fh:
                fh.seek(r.log_offset)
                text = fh.read()
        except OSError:
            return False
        return f"serving {r.name} on ".encode() in text

    def _signal(self, name: str, sig: signal.Signals) -> ReplicaProcess:
        r = self.replicas[name]
        if r.proc is None or not r.running:
            raise RuntimeError(f"replica {name} is not running")
        os.killpg(r.proc.pid, sig)
        return r

    def kill(self, name: str) -> None:
        """SIGKILL the replica's process group (replica and etcd member) and reap it."""
        r = self._signal(name, signal.SIGKILL)
        self._reap(r)

    def pause(self, name: str) -> None:
        """SIGSTOP the replica's process group: it neither answers nor times anything out."""
        self._signal(name, signal.SIGSTOP).paused = True

    def resume(self, name: str) -> None:
        """SIGCONT a paused replica's process group."""
        self._signal(name, signal.SIGCONT).paused = False

    def terminate(self, name: str, timeout: float = 15) -> None:
        """Stop the replica gracefully: SIGTERM to the replica only (it stops its member),
        SIGKILL to the group after ``timeout`` seconds."""
        r = self.replicas[name]
        if r.proc is None or not r.running:
            return
        if r.paused:
            self.resume(name)
        r.proc.send_signal(signal.SIGTERM)
        try:
            r.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(r.proc.pid, signal.SIGKILL)
        self._reap(r)

    def _reap(self, r: ReplicaProcess, timeout: float = 10) -> None:
        """Wait for the replica and for its process group to be gone (its etcd member is
        reaped by init, so the ports are free for a restart when this returns)."""
        assert r.proc is not None
        r.proc.wait(timeout)
        r.paused = False
        deadline = time.monotonic() + timeout
        while _group_alive(r.proc.pid) and time.monotonic() < deadline:
            time.sleep(_POLL)

    def restart(self, name: str, timeout: float = 60) -> None:
        """Start a stopped replica again on its data directory and wait until it serves."""
        r = self.replicas[name]
        self._spawn(r)
        self._wait_serving([r], timeout)

    # -- etcd ------------------------------------------------------------------------------

    def etcd_leader(self, timeout: float = 10) -> str:
        """The name of the replica whose etcd member is the Raft leader, as the live
        members report it (polled until they agree on one of them)."""

        async def ask() -> str | None:
            live = self.live()
            answers = await asyncio.gather(
                *(_etcd_status(r.etcd_endpoint) for r in live), return_exceptions=True
            )
            ok = [(r, s) for r, s in zip(live, answers, strict=True) if _ok(s)]
            names = {s.member_id: r.name for r, s in ok}
            leaders = {s.leader for _, s in ok}
            if len(leaders) == 1 and (leader := leaders.pop()) in names:
                return names[leader]
            return None

        return self._poll(ask, timeout, "no etcd leader among the live replicas")

    def add_replica(self, timeout: float = 60) -> str:
        """Start a new replica ``r<n>`` that joins the running cluster (etcd MemberAdd
        through the live members); returns its name once it serves. If it fails to, it is
        killed and forgotten (its log stays in ``base_dir``, its tail is in the error)."""
        name = f"r{self._next}"
        self._next += 1
        r = self._new_replica(name, free_ports(3))
        join = ",".join(f"http://{x.etcd_endpoint}" for x in self.live())
        r.args = ("--join", join)
        self.replicas[name] = r
        try:
            self._spawn(r)
            self._wait_serving([r], timeout)
        except BaseException:
            if r.running:
                self.kill(name)
            del self.replicas[name]
            raise
        return name

    def remove_replica(self, name: str, timeout: float = 30) -> None:
        """Remove the replica's etcd member (:func:`membership.remove_member`, which
        refuses with :class:`~pilothouse.controlplane.membership.QuorumError` if the rest
        would lack a healthy quorum; nothing changes then), then stop and forget it."""
        others = [r for r in self.live() if r.name != name] or list(self.replicas.values())
        endpoints = [f"http://{r.etcd_endpoint}" for r in others]
        _run(membership.remove_member(endpoints, name, timeout=timeout))
        self.terminate(name)
        del self.replicas[name]

    def _poll(self, fn: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = _run(fn())
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} within {timeout}s")
            time.sleep(_POLL)

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every process group still alive and reap it. Idempotent."""
        for r in self.replicas.values():
            if r.proc is None:
                continue
            # Only while the replica is unreaped: then its pid (the group id) is not reused.
            if r.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(r.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._reap(r, timeout=5)
        if not self._closed:
            self._closed = True
            atexit.unregister(self.close)

    def __enter__(self) -> ControlPlaneCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ok(s: etcd_mod.Status | BaseException) -> TypeGuard[etcd_mod.Status]:
    return isinstance(s, etcd_mod.Status) and s.leader != 0


async def _etcd_status(endpoint: str) -> etcd_mod.Status:
    async with etcd_mod.connect([endpoint], timeout=1.0) as client:
        return await client.status()


def _run(coro: Awaitable[T]) -> T:
    """Run ``coro`` to completion from sync code, also when this thread runs an event
    loop (then on a helper thread, blocking the caller)."""

    async def main() -> T:
        return await coro

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 64 * 1024))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
