"""Process start-up shared by the sessions end-to-end tests that run the cluster, the
operator manager and the sessions API as three separate processes (so the manager can be
killed with SIGKILL and started again while the other two keep running).

* :func:`start_cluster`: ``pilothouse cluster up`` (:class:`~pilothouse.testing.process.
  ClusterProcess`) with its state in the test's tmp_path, a free port, simulated nodes.
* :class:`Manager`: ``pilothouse run --controllers sessions`` registering its webhooks on
  the cluster (``--register-webhooks``, webhook server on a free port), ready once its
  ``/readyz`` answers 200 (informers synced, webhook server up).
* :class:`SessionsAPI`: ``pilothouse sessions-api`` with a token file and SQLite in
  tmp_path, ready once ``/healthz`` answers.
* :class:`Stack`: all three, stopped (in reverse order) whatever happens to the test.
"""

from __future__ import annotations

import contextlib
import pathlib
import signal
import subprocess
import sys
import types
from typing import Any

import httpx

from pilothouse import ports
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import common
from pilothouse.testing import eventually, process

PILOTHOUSE = pathlib.Path(sys.executable).with_name("pilothouse")
GROUP = f"{common.GROUP}/{common.VERSION}"
ADMIN_TOKEN = "t-root"
USER_TOKEN = "t-alice"
TOKENS = f"{USER_TOKEN}: alice\n{ADMIN_TOKEN}: {{user: root, admin: true}}\n"

Obj = dict[str, Any]


def _tail(path: pathlib.Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: pathlib.Path, timeout: float) -> None:
    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}: {_tail(log)}")
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually.eventually(answers, timeout=timeout, interval=0.05, message=f"{url} up")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; log: {_tail(log)}") from None


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> int | None:
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(30)


def start_cluster(tmp_path: pathlib.Path, nodes: int, *extra: str) -> process.ClusterProcess:
    """``pilothouse cluster up`` on a free port with ``nodes`` simulated nodes."""
    return process.ClusterProcess(
        tmp_path / "cluster", "--port", "0", "--nodes", str(nodes), *extra
    ).start(timeout=60)


class Manager:
    """``pilothouse run --controllers sessions`` as a child process; each :meth:`start`
    appends to the same log file, so a failure shows every incarnation's output."""

    def __init__(self, kubeconfig: pathlib.Path, log: pathlib.Path) -> None:
        self.kubeconfig = kubeconfig
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0) -> Manager:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        probe = ports.free_port()
        self.starts += 1
        with self.log.open("ab") as err:
            err.write(f"--- manager start {self.starts} ---\n".encode())
            err.flush()
            self.proc = subprocess.Popen(
                [
                    str(PILOTHOUSE),
                    "run",
                    *("--kubeconfig", str(self.kubeconfig)),
                    *("--controllers", "sessions"),
                    *("--metrics-bind-address", "0"),
                    *("--health-probe-bind-address", f"127.0.0.1:{probe}"),
                    *("--webhook-port", "0", "--register-webhooks"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        _wait_http(f"http://127.0.0.1:{probe}/readyz", self.proc, self.log, timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no unregistering of the webhooks."""
        assert self.proc is not None
        code = _stop(self.proc, signal.SIGKILL)
        assert code == -signal.SIGKILL, code

    def stop(self) -> int | None:
        return _stop(self.proc)


class SessionsAPI:
    """``pilothouse sessions-api`` as a child process, with :data:`TOKENS`."""

    def __init__(self, tmp_path: pathlib.Path, kubeconfig: pathlib.Path) -> None:
        self.tmp_path = tmp_path
        self.kubeconfig = kubeconfig
        self.log = tmp_path / "api.log"
        self.port = ports.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> SessionsAPI:
        tokens = self.tmp_path / "tokens.yaml"
        tokens.write_text(TOKENS)
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [
                    str(PILOTHOUSE),
                    "sessions-api",
                    *("--tokens", str(tokens), "--kubeconfig", str(self.kubeconfig)),
                    *("--port", str(self.port), "--heartbeat-interval", "0.2"),
                    *("--database-url", f"sqlite+aiosqlite:///{self.tmp_path / 'api.db'}"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        _wait_http(f"{self.base}/healthz", self.proc, self.log, timeout)
        return self

    def client(self, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )

    def stop(self) -> int | None:
        return _stop(self.proc)


class Stack:
    """The cluster, the manager and the API as three processes. Use as a context manager:
    whatever happens, everything started is stopped (manager and API first)."""

    def __init__(self, tmp_path: pathlib.Path, nodes: int, *cluster_args: str) -> None:
        self.tmp_path = tmp_path
        self.nodes = nodes
        self.cluster_args = cluster_args
        self.cluster: process.ClusterProcess | None = None
        self.manager: Manager | None = None
        self.api: SessionsAPI | None = None

    @property
    def kubeconfig(self) -> pathlib.Path:
        assert self.cluster is not None
        return self.cluster.kubeconfig

    def __enter__(self) -> Stack:
        try:
            self.cluster = start_cluster(self.tmp_path, self.nodes, *self.cluster_args)
            self.manager = Manager(self.kubeconfig, self.tmp_path / "manager.log").start()
            self.api = SessionsAPI(self.tmp_path, self.kubeconfig).start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> list[int | None]:
        """SIGTERM the API, the manager and the cluster, in that order; their exit codes
        (None: never started). Idempotent: an already stopped process gives its code."""
        codes: list[int | None] = []
        for stop in (
            self.api.stop if self.api else None,
            self.manager.stop if self.manager else None,
            self.cluster.stop if self.cluster and self.cluster.proc else None,
        ):
            code: int | None = None
            if stop is not None:
                with contextlib.suppress(Exception):
                    code = stop()
            codes.append(code)
        return codes

    def logs(self) -> str:
        """The manager's and the API's log tails, for failure messages."""
        assert self.manager is not None and self.api is not None
        return f"manager: {_tail(self.manager.log)}\napi: {_tail(self.api.log)}"

    async def kube(self) -> client_mod.Client:
        """A Kubernetes client for the cluster (close it)."""
        return await client_mod.connect(str(self.kubeconfig))


async def apply(kube: client_mod.Client, obj: Obj) -> Obj:
    applied: Obj = await kube.apply(obj, field_manager="e2e-test", force=True)
    return applied


def template(name: str = "python") -> Obj:
    return {
        "apiVersion": GROUP,
        "kind": "SessionTemplate",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"image": "python:3.12-slim"},
    }
