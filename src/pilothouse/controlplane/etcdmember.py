"""Supervision of the one etcd member each control-plane replica embeds (as k3s does).

A replica (``pilothouse controlplane serve``) builds a :class:`MemberConfig`, starts an
:class:`EtcdMember` with ``supervise=True``, waits for it (:meth:`EtcdMember.wait_serving`,
then :meth:`EtcdMember.wait_healthy` once enough peers are up for quorum) and stops it on
shutdown. Design choices:

* **Same process group, PDEATHSIG.** etcd stays in the replica's process group, so a test that
  SIGSTOPs or SIGKILLs a replica's group freezes or kills its member with it -- a replica and
  its member fail together, as they would on one machine. SIGKILL of the replica alone would
  orphan etcd, though, and an orphan holding the data dir and the ports makes the restarted
  replica's member fail; so on Linux etcd is started through ``setpriv --pdeathsig KILL``,
  which asks the kernel (``prctl(PR_SET_PDEATHSIG)``) to kill it when its parent dies. The
  signal is tied to the *thread* that forked the child: start members from the event-loop
  thread, which outlives them. Because the group
  is shared, a terminal's Ctrl-C reaches etcd too; the replica should :meth:`~EtcdMember.stop`
  its member when it handles the signal (a supervisor that is not stopped restarts it).
* **Auto-compaction off, pre-vote on**: see :mod:`~pilothouse.controlplane.etcdconfig`, which
  holds :class:`MemberConfig` and :func:`etcd_binary` (re-exported here).
* **Restart with backoff.** An unexpected exit is restarted after 0.1 s, doubling up to 5 s
  while the member keeps dying young; a member that ran for 30 s starts again from 0.1 s. A
  transient crash therefore costs ~0.1 s, while a crash loop (a corrupt data dir, a stolen
  port) neither spins a core nor floods the log -- and every restart is logged with its exit
  code and the last lines of the member's log, which is where the reason is.
  Exit code 0 is the exception: etcd exits cleanly on its own only when it has been removed
  from the cluster, so that ends supervision instead.
* **Logs.** etcd's stdout and stderr go to ``<data_dir>.log`` (appended across restarts, with
  a marker line per start) rather than ``--log-outputs <file>``: Go runtime panics are written
  to stderr whatever the logger is configured to do, and they are the lines that matter.
* **Environment.** ``ETCD_*`` variables are removed from the child's environment: etcd reads
  them as flags, and a stray one in a developer's shell would silently change the member.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from pilothouse.controlplane.etcdconfig import (
    ENV_BINARY,
    EtcdMemberError,
    EtcdNotFound,
    MemberConfig,
    etcd_binary,
    local_cluster_configs,
)

__all__ = [
    "ENV_BINARY",
    "EtcdExited",
    "EtcdMember",
    "EtcdMemberError",
    "EtcdNotFound",
    "EtcdTimeout",
    "MemberConfig",
    "etcd_binary",
    "local_cluster_configs",
]

log = logging.getLogger(__name__)


class EtcdExited(EtcdMemberError):
    """The (unsupervised) member exited while we were waiting for it."""


class EtcdTimeout(EtcdMemberError, TimeoutError):
    """The member did not become serving or healthy in time."""


def _pdeathsig_prefix() -> list[str]:
    """A command prefix making the child die with its parent (Linux), else ``[]``.

    util-linux's ``setpriv --pdeathsig KILL`` sets the signal and then execs etcd. Not a
    ``preexec_fn``: Python code run between fork and exec in a process with gRPC's threads
    can crash the child (it did, in ``threading._after_fork``), and setpriv runs none.
    """
    if not sys.platform.startswith("linux"):
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        log.warning("setpriv not found: etcd members will not die with their replica")
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


class EtcdMember:
    """One etcd member process: start, wait, stop, and (optionally) restart on crashes."""

    def __init__(
        self,
        config: MemberConfig,
        *,
        binary: pathlib.Path | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        backoff_reset_after: float = 30.0,
    ) -> None:
        self.config = config
        self.binary = binary
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.backoff_reset_after = backoff_reset_after
        self.restarts = 0
        #: The process that last answered a :meth:`watchdog` probe, and how many probes ran.
        self.answered_pid: int | None = None
        self.probes = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._started_at = 0.0
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._stop_timeout = 10.0

    def __repr__(self) -> str:
        return f"<EtcdMember {self.config.name} pid={self.pid} rc={self.returncode}>"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc is not None else None

    @property
    def supervised(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    async def start(self, *, supervise: bool = False) -> None:
        """Spawn etcd; with ``supervise``, restart it in a background task when it exits."""
        if self.running or self.supervised:
            raise EtcdMemberError(f"etcd member {self.config.name} is already running")
        self._stopping = False
        self._stop_event.clear()
        await self._spawn()
        if supervise:
            self._supervisor = asyncio.create_task(
                self._supervise(), name=f"etcd-supervisor-{self.config.name}"
            )

    async def run(self) -> None:
        """Start (unless running) and supervise in the calling task until :meth:`stop` is called
        or the task is cancelled; cancellation stops the member."""
        if self.supervised:
            raise EtcdMemberError(f"etcd member {self.config.name} is already supervised")
        if not self.running:
            self._stopping = False
            self._stop_event.clear()
            await self._spawn()
        try:
            await self._supervise()
        finally:
            if self.running:
                self._stopping = True
                self._stop_event.set()
                await self._terminate(self._stop_timeout)

    async def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, SIGKILL after ``timeout`` s, reap; end supervision. Returns the exit code."""
        self._stopping = True
        self._stop_event.set()
        self._stop_timeout = timeout
        await self._terminate(timeout)
        task, self._supervisor = self._supervisor, None
        if task is not None:
            # The supervisor sees the flag and returns (terminating anything it was spawning).
            [outcome] = await asyncio.gather(task, return_exceptions=True)
            if isinstance(outcome, Exception):
                log.error("etcd member %s supervisor failed", self.config.name, exc_info=outcome)
        return self.returncode

    async def wait_serving(self, timeout: float = 10.0) -> None:
        """Wait until the client port answers ``/version`` (no quorum needed)."""
        await self._poll("/version", lambda body: "etcdserver" in body, timeout, "serving")

    async def wait_healthy(self, timeout: float = 10.0) -> None:
        """Wait until ``/health`` says ``true`` -- which needs a leader, so in a multi-member
        cluster it only happens once a quorum of members runs."""
        await self._poll("/health", lambda body: body.get("health") == "true", timeout, "healthy")

    async def is_healthy(self, timeout: float = 1.0) -> bool:
        """One ``/health`` probe."""
        async with aiohttp.ClientSession() as session:
            body = await self._get_json(session, "/health", timeout)
        return body.get("health") == "true"

    async def is_responsive(self, timeout: float = 2.0) -> bool:
        """One ``/version`` probe: the process answers at all (no quorum needed)."""
        async with aiohttp.ClientSession() as session:
            body = await self._get_json(session, "/version", timeout)
        return "etcdserver" in body

    def kill(self) -> None:
        """SIGKILL the member process (a hung one); a supervisor starts it again."""
        if self._proc is not None and self._proc.returncode is None:
            log.warning("killing etcd member %s (pid %s)", self.config.name, self._proc.pid)
            self._proc.kill()

    async def watchdog(self, interval: float = 5.0, failures: int = 3) -> None:
        """Kill the member when it stops answering ``/version`` for ``failures`` probes in
        a row (a process that is alive but hung); the supervisor then restarts it. Runs
        until cancelled. A member without quorum still answers, so it is never killed for
        that; nor is a process that has not answered once yet (it may still be starting)."""
        missed = 0
        while True:
            await asyncio.sleep(interval)  # the probe period, not a wait for an event
            pid = self.pid
            if not self.running:
                missed = 0
                continue
            responsive = await self.is_responsive(min(interval, 2.0))
            self.probes += 1
            if responsive:
                self.answered_pid, missed = pid, 0
            elif self.answered_pid == pid:
                missed += 1
            if missed >= failures:
                self.kill()
                missed = 0

    def log_tail(self, lines: int = 20) -> list[str]:
        """The last ``lines`` lines of the member's log file."""
        try:
            with self.config.log_path.open("rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - 64 * 1024))
                data = fh.read()
        except OSError:
            return []
        return data.decode("utf-8", "replace").splitlines()[-lines:]

    def _tail_text(self) -> str:
        tail = self.log_tail()
        return "; last lines of its log:\n" + "\n".join(tail) if tail else "; its log is empty"

    async def _spawn(self) -> None:
        argv = self.config.argv(self.binary)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
        logfd = self._open_log(argv)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *_pdeathsig_prefix(),
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=logfd,
                stderr=logfd,
                env=env,
            )
        finally:
            # The child has its own copy of the descriptor.
            os.close(logfd)
        self._started_at = time.monotonic()
        log.info("etcd member %s started (pid %d)", self.config.name, self._proc.pid)

    def _open_log(self, argv: list[str]) -> int:
        self.config.data_dir.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(fd, f"--- pilothouse: starting {' '.join(argv)}\n".encode())
        return fd

    async def _terminate(self, timeout: float) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            async with asyncio.timeout(timeout):
                await proc.wait()
        except TimeoutError:
            log.warning(
                "etcd member %s ignored SIGTERM for %ss; killing", self.config.name, timeout
            )
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def _supervise(self) -> None:
        delay = self.backoff_initial
        while not self._stopping:
            proc = self._proc
            assert proc is not None
            code = await proc.wait()
            if self._stopping:
                return
            if code == 0:
                # etcd exits 0 by itself only once removed from the cluster; a restart
                # would fail the same way forever.
                log.warning("etcd member %s exited cleanly; not restarting it", self.config.name)
                return
            uptime = time.monotonic() - self._started_at
            if uptime >= self.backoff_reset_after:
                delay = self.backoff_initial
            name, tail = self.config.name, self._tail_text()
            msg = "etcd member %s (pid %d) exited with code %s after %.1fs; restart in %.1fs%s"
            log.warning(msg, name, proc.pid, code, uptime, delay, tail)
            while True:
                if await self._stop_requested_within(delay):
                    return
                delay = min(delay * 2, self.backoff_max)
                try:
                    await self._spawn()
                    break
                except OSError as exc:
                    log.error("cannot restart etcd member %s: %s", self.config.name, exc)
            self.restarts += 1
            if self._stopping:
                # stop() ran while we were spawning, after it had terminated the old process.
                await self._terminate(self._stop_timeout)
                return

    async def _stop_requested_within(self, delay: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._stop_event.wait()
        return self._stopping

    async def _poll(
        self, path: str, ok: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        async with aiohttp.ClientSession() as session:
            while True:
                name, remaining = self.config.name, deadline - time.monotonic()
                if not self.running and not self.supervised:
                    rc = self.returncode
                    raise EtcdExited(f"etcd member {name} exited (code {rc}){self._tail_text()}")
                if remaining <= 0:
                    raise EtcdTimeout(
                        f"etcd member {name} not {what} within {timeout}s (last answer: "
                        f"{last or 'none'}){self._tail_text()}"
                    )
                last = await self._get_json(session, path, min(1.0, remaining))
                if ok(last):
                    return
                await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    async def _get_json(
        self, session: aiohttp.ClientSession, path: str, timeout: float
    ) -> dict[str, Any]:
        """GET a JSON object from the client URL; ``{"error": ...}`` instead of raising."""
        url = self.config.probe_url + path
        try:
            async with (
                asyncio.timeout(timeout),
                session.get(url, allow_redirects=False) as resp,
            ):
                body = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return body if isinstance(body, dict) else {"error": f"unexpected body {body!r}"}
