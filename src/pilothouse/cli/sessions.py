"""``pilothouse sessions-api``: serve the workspace-sessions API (FastAPI, under uvicorn).

The API only creates Sessions and NodeOperations, records heartbeats and connections, and
reads status; the ``sessions`` operator (``pilothouse run`` / ``pilothouse up``) does every
other Kubernetes write. Exit code 2 for bad input (an unreadable token file, a bad URL),
before anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import secrets
import sys
import urllib.parse
from collections.abc import AsyncIterator, Iterator

import typer
import uvicorn

from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import records
from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth, dashboard, db, state


def sessions_api(
    tokens: pathlib.Path = typer.Option(
        ...,
        "--tokens",
        help="YAML mapping of bearer tokens to users: {token: user} or "
        "{token: {user: name, admin: true}}.",
    ),
    namespace: str = typer.Option("default", "--namespace", help="Where sessions live."),
    database_url: str = typer.Option(
        state.DEFAULT_DATABASE_URL,
        "--database-url",
        envvar=records.ENV_DATABASE_URL,
        show_envvar=True,
        help="SQLAlchemy async URL (sqlite+aiosqlite:///file or postgresql+asyncpg://…); "
        "the sessions operator reads the same variable to clean deleted sessions' records.",
    ),
    heartbeat_interval: float = typer.Option(
        10.0,
        "--heartbeat-interval",
        min=0.05,
        help="At most one lastActivity write per session per this many seconds.",
    ),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="Default: $KUBECONFIG."),
    context: str | None = typer.Option(None, "--context"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8080, "--port", min=1, max=65535),
) -> None:
    """Serve the sessions API until SIGINT/SIGTERM."""
    try:
        users = auth.tokens_from_file(tokens)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: --tokens {tokens}: {exc}\n")
        raise typer.Exit(2) from exc
    if not users:
        sys.stderr.write(f"error: --tokens {tokens}: no tokens, nobody could use the API\n")
        raise typer.Exit(2)
    try:
        db.engine_url(database_url)
    except db.UnsupportedDatabase as exc:
        sys.stderr.write(f"error: --database-url: {exc}\n")
        raise typer.Exit(2) from exc
    print(
        f"sessions API: http://{host}:{port}  dashboard: {dashboard_url(host, port)}  "
        f"(sign in with a token from {tokens})",
        flush=True,
    )
    app_mod.serve(
        state.Settings(
            tokens=users,
            namespace=namespace,
            database_url=database_url,
            heartbeat_interval=heartbeat_interval,
            kubeconfig=kubeconfig,
            context=context,
            host=host,
            port=port,
        )
    )


def dashboard_url(host: str, port: int, token: str | None = None) -> str:
    """The dashboard's address on ``host:port``; with ``token``, signed in by the fragment
    ``#token=…`` (never sent to the server, so it stays out of access logs)."""
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}{dashboard.PATH}"
    return f"{url}#token={urllib.parse.quote(token, safe='')}" if token else url


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside another program's event loop: the host program owns the signals
    (``pilothouse up`` stops everything on SIGTERM), and stops this by ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


#: The user ``pilothouse up`` makes for its own sessions API.
LOCAL_USER = "dev"


def _local_token(path: pathlib.Path) -> str:
    """The local admin's token, made once and kept with the cluster's state (mode 0600)."""
    if path.exists():
        for token, user in auth.tokens_from_file(path).items():
            if user.admin and user.name == LOCAL_USER:
                return token
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{token}: {{user: {LOCAL_USER}, admin: true}}\n")
    return token


def local_database_url(state_dir: pathlib.Path) -> str:
    """The SQLite database of ``pilothouse up``'s sessions API, kept with the cluster's
    state (its manager's Session finalizer cleans the same one)."""
    return f"sqlite+aiosqlite:///{(state_dir / 'sessions.db').resolve()}"


@contextlib.asynccontextmanager
async def local_api(
    state_dir: pathlib.Path, kubeconfig: pathlib.Path, port: int
) -> AsyncIterator[None]:
    """The sessions API for ``pilothouse up``, in the caller's event loop; ``port`` -1: none.

    Its token file and SQLite database live in ``state_dir``; the token (an admin, user
    ``dev``) is printed, and the dashboard's URL signed in with it (``dashboard:
    http://…/dashboard/#token=…``). A port already taken is reported and ``up`` goes on
    without it.
    """
    if port < 0:
        yield
        return
    tokens = state_dir / "sessions-tokens.yaml"
    token = _local_token(tokens)
    settings = state.Settings(
        tokens=auth.tokens_from_file(tokens),
        namespace="default",
        database_url=local_database_url(state_dir),
        kubeconfig=str(kubeconfig),
        context="pilothouse",
        port=port,
    )

    async def kube() -> client_mod.Client:
        return await client_mod.connect(settings.kubeconfig, settings.context)

    server = _EmbeddedServer(
        uvicorn.Config(
            app_mod.create_app(settings, kube), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 30
    while not server.started and not task.done():
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)  # poll for start-up, bounded by the deadline above
    if not server.started:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await task
        sys.stderr.write(
            f"error: the sessions API cannot start on port {port} "
            "(use --sessions-api-port 0 for a free port, or -1 for none)\n"
        )
        yield
        return
    bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
    print(
        f"sessions API: http://127.0.0.1:{bound}  token: {token}  (user {LOCAL_USER}, admin; "
        f"{tokens})",
        flush=True,
    )
    # The token rides in the fragment, which the browser never sends to the server; the
    # page moves it into the tab's sessionStorage and out of the address bar.
    print(f"dashboard: {dashboard_url('127.0.0.1', bound, token)}", flush=True)
    try:
        yield
    finally:
        server.should_exit = True
        await task
