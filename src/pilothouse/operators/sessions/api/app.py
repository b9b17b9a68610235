"""The sessions API application: :class:`Settings`, :func:`create_app` and :func:`serve`.

``create_app(settings, kube_client_factory)`` builds the FastAPI app; its lifespan makes
the Kubernetes client (through the factory, so tests hand in a client of the embedded API
server), opens the database and applies its migrations, and runs the heartbeat flusher
(:mod:`.heartbeats`). At shutdown pending heartbeats are written, then the database and
the client are closed. Everything the routes share lives in one :class:`APIState` on
``app.state.api`` (:mod:`.state`).

The dashboard, a static page using these routes, is served at ``/dashboard/``
(:mod:`.dashboard`).

Test harnesses that do not run ASGI lifespan events (``httpx.ASGITransport``) enter
``app.router.lifespan_context(app)`` themselves.

``serve(settings)`` runs the app under uvicorn with a client from the configured
kubeconfig (or the in-cluster configuration); the ``pilothouse sessions-api`` command
builds :class:`Settings` from its options and calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime

import uvicorn
from fastapi import FastAPI

from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.operators.sessions import idle
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions.api import (
    auth,
    dashboard,
    db,
    heartbeats,
    routes_admin,
    routes_sessions,
    routes_ws,
    sessionstream,
)
from pilothouse.operators.sessions.api import state as state_mod

__all__ = ["KubeClientFactory", "Settings", "create_app", "serve"]

Settings = state_mod.Settings
KubeClientFactory = Callable[[], Awaitable[client_mod.Client]]
FIELD_MANAGER = state_mod.FIELD_MANAGER


async def _write_last_activity(
    kube: client_mod.Client, key: heartbeats.Key, when: datetime
) -> None:
    """A merge patch of ``status.lastActivity`` through the status subresource: it touches
    no other field, so it never fights the controller's server-side apply of status."""
    namespace, name = key
    try:
        await kube.patch(
            session_mod.Session.kind_info(),
            name,
            {"status": {"lastActivity": idle.format_time(when)}},
            namespace=namespace,
            subresource="status",
            field_manager=FIELD_MANAGER,
        )
    except errors.NotFound as exc:
        raise LookupError(f"session {namespace}/{name} is gone") from exc


def create_app(
    settings: Settings,
    kube_client_factory: KubeClientFactory,
    *,
    wall_clock: Callable[[], datetime] = state_mod.system_wall_clock,
) -> FastAPI:
    """The sessions API as an ASGI app (see the module docstring)."""
    authenticator = auth.Authenticator(settings.tokens)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            kube = await kube_client_factory()
            stack.push_async_callback(kube.close)
            database = db.Database(settings.database_url)
            stack.push_async_callback(database.close)
            await database.start()

            owners: dict[heartbeats.Key, str] = {}

            async def write(key: heartbeats.Key, when: datetime) -> None:
                try:
                    await _write_last_activity(kube, key, when)
                except LookupError:
                    # Gone: a Session of the same name created later may be someone else's.
                    owners.pop(key, None)
                    raise

            flusher = heartbeats.HeartbeatFlusher(write, settings.heartbeat_interval)
            flusher.start()
            stack.push_async_callback(flusher.stop)
            # One watch of Sessions for every WebSocket client; stopped (closing their
            # sockets) before the client it uses is closed.
            stream = sessionstream.SessionStream(kube, settings.namespace)
            stream.start()
            stack.push_async_callback(stream.stop)
            app.state.api = state_mod.APIState(
                settings, kube, database, flusher, wall_clock, owners, session_stream=stream
            )
            yield

    app = FastAPI(title="Pilothouse sessions API", version="v1", lifespan=lifespan)
    app.state.authenticator = authenticator

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(routes_sessions.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_ws.router)
    app.include_router(dashboard.router)
    return app


class _Server(uvicorn.Server):
    """uvicorn, stopping gracefully on SIGTERM/SIGINT and then exiting 0.

    uvicorn's own handling re-raises the signal after its graceful shutdown, so a clean
    stop would end with -15 like a crash; every other ``pilothouse`` server exits 0
    after a clean stop, and supervisors (and tests) tell the two apart by that.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def serve(settings: Settings) -> None:
    """Run the API under uvicorn until SIGTERM/SIGINT (blocking), then return."""

    async def factory() -> client_mod.Client:
        return await client_mod.connect(settings.kubeconfig, settings.context)

    config = uvicorn.Config(
        create_app(settings, factory), host=settings.host, port=settings.port, log_level="info"
    )
    _Server(config).run()
