"""Test kit for informer recovery: a TCP proxy that can cut, refuse or silently stall the
connections between a client and the API server, and an event handler that records what
an informer told it.

The proxy forwards bytes untouched (TLS included: the server's certificate covers
127.0.0.1, where the proxy listens), so the client under test speaks to the real server and
only the network misbehaves:

* :meth:`TcpProxy.drop` -- reset every open connection (a restarted load balancer);
* :meth:`TcpProxy.refuse` / :meth:`TcpProxy.accept` -- reset every connection and every new
  one until told otherwise (the server unreachable);
* :meth:`TcpProxy.freeze` / :meth:`TcpProxy.resume` -- stop forwarding without closing
  anything (a silent stall: a dead NAT entry, a partition). With ``new_connections=True``
  connections opened while frozen are accepted but stall too (a full partition); with
  ``False`` they work (only the old path died). Resuming delivers what was held.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.runtime import cache as cache_mod
from pilothouse.runtime import informer as informer_mod
from pilothouse.runtime import store as store_mod
from pilothouse.testing import fixtures

Obj = dict[str, Any]


class _Link:
    """One client connection and its upstream connection."""

    def __init__(
        self,
        client: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
        flowing: bool,
    ) -> None:
        self.writers = (client, upstream)
        self.flowing = asyncio.Event()
        if flowing:
            self.flowing.set()
        self.closed = False
        self.tasks: list[asyncio.Task[None]] = []

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for w in self.writers:
            w.transport.abort()
        self.flowing.set()  # wake pumps held by a freeze so that they see the close


class TcpProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.links: set[_Link] = set()
        #: Connections accepted so far (refused ones included).
        self.accepted = 0
        #: Reads forwarded from the server to clients (a bookmark is about one).
        self.chunks_down = 0
        self._frozen_new = False
        self._refusing = False
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def url(self, scheme: str = "https") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    # -- misbehaviour --------------------------------------------------------------------

    def drop(self) -> None:
        """Reset every open connection; new ones are accepted as usual."""
        for link in list(self.links):
            link.close()

    def refuse(self) -> None:
        """Reset every open connection and every new one until :meth:`accept`."""
        self._refusing = True
        self.drop()

    def accept(self) -> None:
        self._refusing = False

    def freeze(self, *, new_connections: bool = True) -> None:
        """Stop forwarding on every open connection (and on new ones if
        ``new_connections``), closing nothing."""
        self._frozen_new = new_connections
        for link in self.links:
            link.flowing.clear()

    def resume(self) -> None:
        self._frozen_new = False
        for link in self.links:
            link.flowing.set()

    # -- plumbing ------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            self.accepted += 1
            if self._refusing:
                writer.transport.abort()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                writer.transport.abort()
                return
            link = _Link(writer, up_writer, flowing=not self._frozen_new)
            self.links.add(link)
            link.tasks = [
                asyncio.create_task(self._pump(link, reader, up_writer, down=False)),
                asyncio.create_task(self._pump(link, up_reader, writer, down=True)),
            ]
            try:
                await asyncio.gather(*link.tasks)
            finally:
                link.close()
                self.links.discard(link)
        finally:
            self._handlers.discard(task)

    async def _pump(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        down: bool,
    ) -> None:
        try:
            while not link.closed:
                data = await reader.read(65536)
                if not data:
                    break
                await link.flowing.wait()
                if link.closed:
                    break
                writer.write(data)
                await writer.drain()
                if down:
                    self.chunks_down += 1
        except (ConnectionError, OSError):
            pass
        finally:
            link.close()

    async def close(self) -> None:
        self._refusing = True
        if self._server is not None:
            self._server.close()
        self.drop()
        # Aborted transports end every pump, and with them every handler. (Cancelling a
        # handler instead makes asyncio's stream server log the cancellation as an error.)
        if self._handlers:
            _, pending = await asyncio.wait(set(self._handlers), timeout=5)
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        # Let aborted transports finish closing.
        for _ in range(3):
            await asyncio.sleep(0)


class Recorder:
    """An informer event handler that keeps every call: ``(type, key, rv, object)``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, Obj]] = []
        self.olds: list[Obj | None] = []

    @staticmethod
    def _rv(obj: Obj) -> str:
        return str(obj["metadata"].get("resourceVersion", ""))

    def on_add(self, obj: Obj) -> None:
        self.events.append(("add", store_mod.key_of(obj), self._rv(obj), obj))
        self.olds.append(None)

    def on_update(self, old: Obj, new: Obj) -> None:
        self.events.append(("update", store_mod.key_of(new), self._rv(new), new))
        self.olds.append(old)

    def on_delete(self, obj: Obj) -> None:
        self.events.append(("delete", store_mod.key_of(obj), self._rv(obj), obj))
        self.olds.append(None)

    def since(self, mark: int) -> list[tuple[str, str, str]]:
        """The calls after the first ``mark`` ones, as ``(type, key, rv)``."""
        return [(t, k, rv) for t, k, rv, _ in self.events[mark:]]

    def by_key(self, mark: int = 0) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for t, k, rv, _ in self.events[mark:]:
            out.setdefault(k, []).append((t, rv))
        return out


class Env:
    """An API server, a proxy in front of it, a client through the proxy (for the code under
    test) and a direct client (for the test's own writes). Informers and caches registered
    with :meth:`track` are stopped at the end of the test."""

    def __init__(
        self,
        server: server_mod.APIServer,
        proxy: TcpProxy,
        client: client_mod.Client,
        direct: client_mod.Client,
    ) -> None:
        self.server = server
        self.proxy = proxy
        self.client = client
        self.direct = direct
        self.watch_requests = 0
        self.running: list[informer_mod.Informer | cache_mod.Cache] = []
        client.on_request = self._count

    def _count(self, method: str, _code: str, _secs: float) -> None:
        if method == "WATCH":
            self.watch_requests += 1

    def track(self, runner: informer_mod.Informer | cache_mod.Cache) -> None:
        self.running.append(runner)

    async def close(self) -> None:
        for runner in reversed(self.running):
            await runner.stop()
        await self.client.close()
        await self.direct.close()
        await self.proxy.close()


async def make_env(server: server_mod.APIServer) -> Env:
    proxy = await TcpProxy(server.port).start()
    config = fixtures.client_config(server)
    config.server = proxy.url("https" if server.config.tls else "http")
    return Env(
        server,
        proxy,
        client_mod.Client(config),
        client_mod.Client(fixtures.client_config(server)),
    )
