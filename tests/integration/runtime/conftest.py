"""Runtime integration fixtures: an embedded API server on the test's own event loop, and an
async client connected to it.

The server runs in-process on the same loop as the code under test (unlike the threaded
``cluster`` fixture), so tests can stop it to simulate an unreachable API server.
"""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod


class Apiserver:
    """A started :class:`APIServer` and its kubeconfig; :meth:`stop` is idempotent."""

    def __init__(self, server: server_mod.APIServer, kubeconfig: pathlib.Path) -> None:
        self.server = server
        self.kubeconfig = kubeconfig
        self.stopped = False

    def config(self) -> config_mod.ClientConfig:
        return config_mod.load(self.kubeconfig)

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.server.stop()


@pytest.fixture
async def apiserver(tmp_path: pathlib.Path) -> AsyncIterator[Apiserver]:
    srv = server_mod.APIServer(server_mod.ServerConfig(simulation=False))
    await srv.start()
    path = srv.write_kubeconfig(tmp_path / "kubeconfig", merge=False)
    handle = Apiserver(srv, path)
    try:
        yield handle
    finally:
        await handle.stop()


@pytest.fixture
async def client(apiserver: Apiserver) -> AsyncIterator[client_mod.Client]:
    async with client_mod.Client(apiserver.config()) as c:
        yield c
