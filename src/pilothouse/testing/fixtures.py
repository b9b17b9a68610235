"""pytest fixtures for operator tests: an embedded API server in-process, a client, managers.

Installed as a pytest plugin (the ``pytest11`` entry point): any project that installs
Pilothouse gets these fixtures without importing anything.

* ``kube_apiserver`` -- a fresh in-memory :class:`~pilothouse.apiserver.server.APIServer`
  on the test's own event loop (no simulated cluster: tests that need pods running ask
  for ``kube_apiserver_factory(simulation=True)``), with a kubeconfig written to the
  test's tmp dir.
* ``kube_client`` -- a :class:`~pilothouse.client.client.Client` for it.
* ``make_manager(*operators, **options)`` -- builds
  :class:`~pilothouse.runtime.manager.Manager`\\ s on that server (each with its own client
  and the chosen operators' controllers set up), runs them in background tasks
  (:func:`ManagerHandle.start`), and stops them all at the end of the test.

Use :func:`pilothouse.testing.eventually.eventually_async` to wait for convergence.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import pathlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio

from pilothouse.apiserver import server as server_mod
from pilothouse.client import auth as auth_mod
from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod
from pilothouse.runtime import manager as manager_mod
from pilothouse.runtime import operator as operator_mod


class ManagerHandle:
    """A manager under test and the task running it."""

    def __init__(self, manager: manager_mod.Manager) -> None:
        self.manager = manager
        self.task: asyncio.Task[None] | None = None

    def start(self) -> ManagerHandle:
        self.task = asyncio.create_task(self.manager.run())
        return self

    async def wait_started(self, timeout: float = 10.0) -> None:
        """Until every controller's informers have synced (or the manager failed)."""

        async def synced() -> None:
            while not (self.manager.cache.informers and self.manager.cache.synced):
                if self.task is not None and self.task.done():
                    self.task.result()
                await asyncio.sleep(0.01)

        async with asyncio.timeout(timeout):
            await synced()

    async def stop(self) -> None:
        self.manager.stop()
        if self.task is not None:
            with contextlib.suppress(manager_mod.LeaderElectionLost):
                await self.task
        await self.manager.client.close()


@pytest_asyncio.fixture
async def kube_apiserver_factory(
    tmp_path: pathlib.Path,
) -> AsyncIterator[Callable[..., Awaitable[server_mod.APIServer]]]:
    servers: list[server_mod.APIServer] = []

    async def make(**config: Any) -> server_mod.APIServer:
        config.setdefault("simulation", False)
        srv = server_mod.APIServer(server_mod.ServerConfig(**config))
        await srv.start()
        srv.write_kubeconfig(tmp_path / f"kubeconfig-{len(servers)}", merge=False)
        servers.append(srv)
        return srv

    yield make
    for srv in reversed(servers):
        await srv.stop()


@pytest_asyncio.fixture
async def kube_apiserver(
    kube_apiserver_factory: Callable[..., Awaitable[server_mod.APIServer]],
) -> server_mod.APIServer:
    return await kube_apiserver_factory()


def client_config(srv: server_mod.APIServer) -> config_mod.ClientConfig:
    """Configuration for a client of ``srv`` (no kubeconfig file needed)."""
    ctx = ssl.create_default_context(cadata=srv.ca_pem.decode()) if srv.config.tls else None
    auth: auth_mod.Auth = auth_mod.StaticToken(srv.token) if srv.token else auth_mod.NoAuth()
    return config_mod.ClientConfig(server=srv.url, ssl_context=ctx, auth=auth, namespace="default")


@pytest_asyncio.fixture
async def kube_client(kube_apiserver: server_mod.APIServer) -> AsyncIterator[client_mod.Client]:
    client = client_mod.Client(client_config(kube_apiserver))
    yield client
    await client.close()


@pytest_asyncio.fixture
async def make_manager(
    kube_apiserver: server_mod.APIServer,
) -> AsyncIterator[Callable[..., ManagerHandle]]:
    handles: list[ManagerHandle] = []

    def make(
        *operators: operator_mod.Operator | operator_mod.Setup, **options: Any
    ) -> ManagerHandle:
        options.setdefault("metrics_bind_address", None)
        client = client_mod.Client(client_config(kube_apiserver))
        mgr = manager_mod.Manager(client, manager_mod.ManagerOptions(**options))
        for op in operators:
            setup = op.setup if isinstance(op, operator_mod.Operator) else op
            if inspect.iscoroutinefunction(setup):
                raise TypeError("async setup functions: call them yourself before start()")
            setup(mgr)
        handle = ManagerHandle(mgr)
        handles.append(handle)
        return handle

    yield make
    for handle in handles:
        await handle.stop()
