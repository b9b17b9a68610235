"""``pilothouse cluster up`` as a child process, for end-to-end tests and benchmarks that
need a real server process (signals, SIGKILL, restarts, RSS)."""

from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import time

from pilothouse.testing import http


class ClusterProcess:
    """Start with :meth:`start`; the process prints its URL once it serves."""

    def __init__(self, state_dir: pathlib.Path, *args: str) -> None:
        self.state_dir = state_dir
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.state_dir / "kubeconfig"

    def start(self, timeout: float = 30.0) -> ClusterProcess:
        cmd = [sys.executable, "-m", "pilothouse.cli", "cluster", "up"]
        cmd += ["--state-dir", str(self.state_dir), "--kubeconfig", str(self.kubeconfig)]
        self.proc = subprocess.Popen(
            [*cmd, *self.args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(("https://", "http://")):
                self.url = line.strip()
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop(signal.SIGKILL)
        raise RuntimeError("the server did not print its URL")

    def client(self) -> http.RawClient:
        token = (self.state_dir / "token").read_text().strip()
        ca = (self.state_dir / "pki" / "ca.crt").read_bytes()
        return http.RawClient(url=self.url, token=token, ca_pem=ca)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code
