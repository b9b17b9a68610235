"""``pilothouse sessions-api``: serve the workspace-sessions API (FastAPI, under uvicorn).

The API only creates Sessions and NodeOperations, records heartbeats and connections, and
reads status; the ``sessions`` operator (``pilothouse run`` / ``pilothouse up``) does every
other Kubernetes write. Exit code 2 for bad input (an unreadable token file, a bad URL),
before anything starts.
"""

from __future__ import annotations

import pathlib
import sys

import typer

from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth, state


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
        help="SQLAlchemy async URL (sqlite+aiosqlite:///file or postgresql+asyncpg://…).",
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
