"""An embedded API server on a background thread, for tests and tools that block.

The server's event loop runs on its own thread, so a test may call blocking clients (a
``kubectl`` subprocess, the official synchronous client) without starving the server, and
async tests may still use async clients from their own loop. :meth:`ServerThread.call` runs a
coroutine on the server's loop when a test needs to reach inside (the store, the clock).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

from pilothouse.apiserver import server as server_mod

T = TypeVar("T")


class ServerThread:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, config: server_mod.ServerConfig | None = None) -> None:
        self.server = server_mod.APIServer(config or server_mod.ServerConfig())
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="pilothouse-apiserver", daemon=True)
        self.kubeconfig_path: pathlib.Path | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, kubeconfig: pathlib.Path | None = None) -> ServerThread:
        self._thread.start()
        self.call(self.server.start())
        if kubeconfig is not None:
            self.kubeconfig_path = self.server.write_kubeconfig(kubeconfig, merge=False)
        return self

    def stop(self) -> None:
        try:
            self.call(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def kubectl_json(self, *args: str) -> Any:
        """``kubectl <args> -o json``, decoded."""
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def get_json(self, *args: str) -> Any:
        """``kubectl get <args> -o json``, decoded."""
        return self.kubectl_json("get", *args)

    def apply(self, obj: Mapping[str, Any]) -> None:
        """``kubectl apply`` of one object given as a dict."""
        self.kubectl("apply", "-f", "-", input=json.dumps(obj))

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the machine's ``kubectl`` against this server."""
        if self.kubeconfig_path is None:
            raise RuntimeError("start the server with a kubeconfig path to use kubectl")
        return kubectl(self.kubeconfig_path, *args, input=input, check=check, timeout=timeout)


def kubectl(
    kubeconfig: str | os.PathLike[str],
    *args: str,
    input: str | None = None,
    check: bool = True,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run the machine's ``kubectl`` with ``kubeconfig`` (a server in this process or a
    ``pilothouse`` child process). ``check``: a non-zero exit fails the test with kubectl's
    output; polls that run before the server answers pass ``check=False``."""
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    env.pop("KUBERNETES_SERVICE_HOST", None)
    proc = subprocess.run(
        ["kubectl", *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
        )
    return proc
