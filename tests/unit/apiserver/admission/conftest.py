"""Fixtures of the admission tests: the HTTPS webhook server, the webhook configurations of
a pretend cluster and a :class:`Dispatcher` reading them (see ``webhook_harness``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from webhook_harness import SERVING, Cluster, Server, respond

from pilothouse.apiserver.admission import Dispatcher
from pilothouse.pki import ssl_server_context


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        review = orjson.loads(await request.read())
        srv.calls.append((path, review, request.query_string))
        if path == "hang":
            await srv.release.wait()
        behaviour = srv.behaviours.get(path)
        if behaviour is None:
            result: dict[str, Any] | web.Response = respond(review["request"], allowed=True)
        else:
            result = behaviour(review["request"])
        if isinstance(result, web.Response):
            return result
        return web.json_response(result)

    app = web.Application()
    app.router.add_post("/{path}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_server_context(*SERVING))
    await site.start()
    port = runner.addresses[0][1]
    srv.url = f"https://127.0.0.1:{port}"
    yield srv
    srv.release.set()
    await runner.cleanup()


@pytest.fixture
async def webhooks(server: Server) -> Cluster:
    return Cluster(server)


@pytest.fixture
async def dispatcher(webhooks: Cluster) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(lambda which: webhooks.configs[which])
    yield d
    await d.close()
