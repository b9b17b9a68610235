"""The client's transport without an API server: error mapping, watch-stream framing, server
URLs with a path prefix, the 401 retry, and watch timeouts against servers that go silent
(a small aiohttp app and black-hole sockets stand in for the API server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from pilothouse import pki
from pilothouse.api import kinds
from pilothouse.client import auth as auth_mod
from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod
from pilothouse.client import errors
from pilothouse.client import watch as watch_mod

CM = kinds.CONFIGMAP


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "cls"),
    [
        (400, "BadRequest", errors.BadRequest),
        (401, "Unauthorized", errors.Unauthorized),
        (403, "Forbidden", errors.Forbidden),
        (404, "NotFound", errors.NotFound),
        (405, "MethodNotAllowed", errors.MethodNotAllowed),
        (409, "Conflict", errors.Conflict),
        (409, "AlreadyExists", errors.AlreadyExists),
        (410, "Expired", errors.Gone),
        (415, "UnsupportedMediaType", errors.UnsupportedMediaType),
        (422, "Invalid", errors.Invalid),
        (429, "TooManyRequests", errors.TooManyRequests),
        (500, "InternalError", errors.ServerError),
        (503, "ServiceUnavailable", errors.ServerError),
        (504, "Timeout", errors.ServerTimeout),
        (418, "Teapot", errors.ApiError),
    ],
)
def test_status_codes_map_to_exceptions(code: int, reason: str, cls: type[errors.ApiError]) -> None:
    exc = errors.from_status({"kind": "Status", "reason": reason, "message": "m"}, code)
    assert type(exc) is cls
    assert (exc.code, exc.reason, exc.message) == (code, reason, "m")
    assert str(exc) == f"{code} {reason}: m"


def test_error_helpers_causes_and_retry_after() -> None:
    status = {
        "kind": "Status",
        "code": 422,
        "reason": "Invalid",
        "message": "bad",
        "details": {
            "causes": [{"field": "spec.x", "reason": "FieldValueInvalid"}],
            "retryAfterSeconds": 2,
        },
    }
    exc = errors.from_status(status, 422)
    assert exc.causes == [{"field": "spec.x", "reason": "FieldValueInvalid"}]
    assert exc.retry_after == 2.0
    assert errors.ApiError({"code": 500}).code == 500
    conflict = errors.from_status({"reason": "Conflict"}, 409)
    exists = errors.from_status({"reason": "AlreadyExists"}, 409)
    assert errors.is_conflict(conflict) and not errors.is_conflict(exists)
    assert errors.is_retryable(conflict) and not errors.is_retryable(exists)
    assert errors.is_retryable(errors.from_status({}, 503))
    assert errors.is_retryable(errors.from_status({}, 429))
    assert not errors.is_retryable(errors.from_status({}, 404))
    assert errors.is_not_found(errors.from_status({}, 404))


def test_non_status_bodies_still_become_errors() -> None:
    html = client_mod._error(502, b"<html>Bad Gateway</html>")
    assert isinstance(html, errors.ServerError)
    assert html.code == 502 and "Bad Gateway" in html.message
    empty = client_mod._error(404, b"")
    assert isinstance(empty, errors.NotFound) and empty.message == "HTTP 404"
    other_json = client_mod._error(403, b'{"error": "nope"}')
    assert isinstance(other_json, errors.Forbidden) and "nope" in other_json.message


# -- watch framing -----------------------------------------------------------------------


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def collect(*parts: bytes) -> list[bytes]:
    return [line async for line in watch_mod.lines(chunks(*parts))]


async def test_lines_are_reassembled_across_chunks() -> None:
    assert await collect(b'{"a":', b"1}\n", b'{"b":2}\n{"c"', b":3}\n") == [
        b'{"a":1}',
        b'{"b":2}',
        b'{"c":3}',
    ]
    assert await collect(b"\n\n", b"x\n", b"\n") == [b"x"]
    assert await collect(b"tail-without-newline") == [b"tail-without-newline"]
    big = b"x" * 3_000_000
    assert await collect(big[:1000], big[1000:], b"\n") == [big]


def test_parse_event() -> None:
    obj = {"metadata": {"name": "a", "resourceVersion": "7"}}
    ev = watch_mod.parse(orjson.dumps({"type": "MODIFIED", "object": obj}))
    assert ev.type == "MODIFIED" and ev.object == obj and ev.resource_version == "7"
    assert watch_mod.WatchEvent("BOOKMARK", {}).resource_version == ""


# -- a stand-in API server ---------------------------------------------------------------


def configmap(name: str, rv: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "resourceVersion": str(rv)},
    }


class FakeApi:
    """Serves a couple of ConfigMap URLs under ``prefix`` and records what it was asked."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.seen: list[tuple[str, str, str | None]] = []
        self.unauthorized = 0  # answer this many requests with 401 first
        self.app = web.Application()
        base = f"{prefix}/api/v1/namespaces/default/configmaps"
        self.app.router.add_get(base, self.collection)
        self.app.router.add_get(f"{base}/{{name}}", self.get)

    def _record(self, request: web.Request) -> web.Response | None:
        self.seen.append((request.method, request.path_qs, request.headers.get("Authorization")))
        if self.unauthorized > 0:
            self.unauthorized -= 1
            return web.json_response(
                {"kind": "Status", "code": 401, "reason": "Unauthorized", "message": "no"},
                status=401,
            )
        return None

    async def get(self, request: web.Request) -> web.Response:
        return self._record(request) or web.json_response(configmap(request.match_info["name"], 5))

    async def collection(self, request: web.Request) -> web.StreamResponse:
        denied = self._record(request)
        if denied is not None:
            return denied
        if request.query.get("watch") != "1":
            return web.json_response(
                {"kind": "ConfigMapList", "metadata": {"resourceVersion": "9"}, "items": []}
            )
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        added = orjson.dumps({"type": "ADDED", "object": configmap("w", 10)}) + b"\n"
        # One event split across writes, then an expired-resourceVersion ERROR.
        await resp.write(added[:7])
        await resp.write(added[7:])
        gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
        await resp.write(orjson.dumps({"type": "ERROR", "object": gone}) + b"\n")
        await resp.write_eof()
        return resp


Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_server_url_with_a_path_prefix(serve: Serve) -> None:
    """A cluster behind a proxy (``https://rancher/k8s/clusters/c-1``): every request keeps
    the prefix."""
    api = FakeApi("/k8s/clusters/c-1")
    url = await serve(api.app)
    for server in (f"{url}/k8s/clusters/c-1", f"{url}/k8s/clusters/c-1/"):
        async with client_mod.Client(config_mod.ClientConfig(server=server)) as c:
            got = await c.get(CM, "a", "default")
            assert got["metadata"]["name"] == "a"
            page = await c.list(CM, "default")
            assert page.resource_version == "9"
            events = []
            with pytest.raises(errors.Gone, match="too old"):
                async for ev in c.watch(CM, "default", resource_version="9"):
                    events.append(ev)
            assert [(e.type, e.object["metadata"]["name"]) for e in events] == [("ADDED", "w")]
    assert {path.split("?")[0] for _, path, _ in api.seen} == {
        "/k8s/clusters/c-1/api/v1/namespaces/default/configmaps/a",
        "/k8s/clusters/c-1/api/v1/namespaces/default/configmaps",
    }


class RotatingAuth:
    def __init__(self) -> None:
        self.n = 0
        self.invalidated = 0

    async def header(self) -> str | None:
        return f"Bearer t{self.n}"

    def invalidate(self) -> None:
        self.invalidated += 1
        self.n += 1


async def test_a_401_is_retried_once_with_fresh_credentials(serve: Serve) -> None:
    api = FakeApi("")
    url = await serve(api.app)
    auth = RotatingAuth()
    calls: list[tuple[str, str]] = []
    async with client_mod.Client(
        config_mod.ClientConfig(server=url, auth=auth),
        on_request=lambda method, code, _s: calls.append((method, code)),
    ) as c:
        api.unauthorized = 1
        await c.get(CM, "a", "default")
        assert [a for _, _, a in api.seen] == ["Bearer t0", "Bearer t1"]
        assert calls == [("GET", "401"), ("GET", "200")] and c.requests == 2
        api.unauthorized = 5
        with pytest.raises(errors.Unauthorized):
            await c.get(CM, "a", "default")
        assert c.requests == 4 and api.unauthorized == 3  # one retry, never a loop
        assert auth.invalidated == 2


# -- servers that go silent ----------------------------------------------------------------


@pytest.fixture
async def black_hole() -> AsyncIterator[int]:
    """A port that accepts connections and then never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for w in held:
        w.transport.abort()
    server.close()
    await server.wait_closed()


async def first_watch_event(client: client_mod.Client) -> Any:
    stream = client.watch(CM, "default", resource_version="1", inactivity_timeout=0.3)
    async with contextlib.aclosing(stream) as events:  # type: ignore[type-var]
        async for ev in events:
            return ev
    return None


@pytest.mark.parametrize("tls", [False, True], ids=["silent-server", "silent-tls-handshake"])
async def test_watch_inactivity_timeout_covers_a_silent_peer(black_hole: int, tls: bool) -> None:
    """No bytes at all -- not even a TLS handshake answer -- ends the watch with a
    TimeoutError after about ``inactivity_timeout``, rather than hanging."""
    scheme = "https" if tls else "http"
    ctx = pki.ssl_client_context(pki.CertificateAuthority.generate("x").cert_pem) if tls else None
    config = config_mod.ClientConfig(
        server=f"{scheme}://127.0.0.1:{black_hole}",
        ssl_context=ctx,
        auth=auth_mod.StaticToken("t"),
    )
    hooked: list[tuple[str, str]] = []
    async with client_mod.Client(
        config, on_request=lambda method, code, _s: hooked.append((method, code))
    ) as c:
        task = asyncio.create_task(first_watch_event(c))
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            pytest.fail("the watch hung on a silent peer")
        exc = task.exception()
        assert isinstance(exc, TimeoutError), exc
        assert c.requests == 1
    # A watch that got no answer is reported to the hook, like any other request.
    assert hooked == [("WATCH", "<error>")]
