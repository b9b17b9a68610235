"""The manager's HTTP endpoints: ``/metrics`` (Prometheus text), ``/healthz`` and ``/readyz``.

Checks are named functions (sync or async) returning truthy for healthy or raising with a
reason; ``/healthz`` and ``/readyz`` answer 200 ``ok`` when all pass, else 500 listing the
failures, in the ``[+]name ok`` / ``[-]name failed: reason`` style of kube's own probes
(``?verbose`` lists passing checks too). Served on loopback unless told otherwise, so a
local run never exposes a port to the network.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Check = Callable[[], Any | Awaitable[Any]]


class ProbeServer:
    def __init__(self, render_metrics: Callable[[], bytes]) -> None:
        self._render = render_metrics
        self.healthz: dict[str, Check] = {"ping": lambda: True}
        self.readyz: dict[str, Check] = {"ping": lambda: True}
        self._runners: list[web.AppRunner] = []
        self.addresses: list[tuple[str, int]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._render(), content_type="text/plain", charset="utf-8")

    async def _healthz(self, request: web.Request) -> web.Response:
        return await self._run(self.healthz, request)

    async def _readyz(self, request: web.Request) -> web.Response:
        return await self._run(self.readyz, request)

    @staticmethod
    async def _run(checks: dict[str, Check], request: web.Request) -> web.Response:
        lines, ok = [], True
        for name, check in checks.items():
            try:
                value = check()
                if inspect.isawaitable(value):
                    value = await value
                reason = "" if value else "check returned false"
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
            if reason:
                ok = False
                lines.append(f"[-]{name} failed: {reason}")
            else:
                lines.append(f"[+]{name} ok")
        if ok and "verbose" not in request.query:
            return web.Response(text="ok")
        lines.append("healthz check passed" if ok else "check failed")
        return web.Response(text="\n".join(lines) + "\n", status=200 if ok else 500)

    async def start(self, binds: list[tuple[str, int]]) -> None:
        """Serve on each (host, port); port 0 picks a free one (see :attr:`addresses`)."""
        for host, port in binds:
            runner = web.AppRunner(self.app(), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, host, port)
            await site.start()
            self._runners.append(runner)
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            actual = sockets[0].getsockname()[1] if sockets else port
            self.addresses.append((host, int(actual)))

    async def stop(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
        self.addresses = []


def parse_bind(value: str | None) -> tuple[str, int] | None:
    """``"127.0.0.1:8080"``, ``":8080"`` (loopback), ``"0"``/None/"" (disabled)."""
    if not value or value == "0":
        return None
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"bind address {value!r} is not host:port")
    return (host.strip("[]") or "127.0.0.1", int(port))
