"""The sessions API for ``python -m bench sessions``, in its own process, as
``pilothouse sessions-api`` runs it (``app.create_app`` under uvicorn on 127.0.0.1, access
log at ``info`` as :func:`pilothouse.operators.sessions.api.app.serve` sets it), plus one
extra route, ``GET /bench/counts``: the Kubernetes requests this process has made (by
method, from the client's request hook) and the heartbeat flusher's writes. The API
server has no request counters of its own, so the writes heartbeats cause are counted
where they are sent.

``python -m bench.sessions_apiproc KUBECONFIG PORT HEARTBEAT_INTERVAL DB_PATH USERS``
(USERS tokens ``t-u0`` … map to users ``u0`` …). Ready when ``/healthz`` answers.
"""

from __future__ import annotations

import asyncio
import collections
import sys

import uvicorn

from pilothouse.client import client as client_mod
from pilothouse.operators.sessions.api import app as app_mod
from pilothouse.operators.sessions.api import auth


def main(argv: list[str]) -> None:
    kubeconfig, port, interval, db_path, users = argv
    by_method: collections.Counter[str] = collections.Counter()

    def on_request(method: str, code: str, seconds: float) -> None:
        by_method[method] += 1

    async def factory() -> client_mod.Client:
        return await client_mod.connect(kubeconfig, on_request=on_request)

    settings = app_mod.Settings(
        tokens={f"t-u{i}": auth.User(f"u{i}") for i in range(int(users))},
        namespace="default",
        database_url=f"sqlite+aiosqlite:///{db_path}",
        heartbeat_interval=float(interval),
    )
    app = app_mod.create_app(settings, factory)

    @app.get("/bench/counts", include_in_schema=False)
    async def counts() -> dict[str, object]:
        return {"requests": dict(by_method), "flusher_writes": app.state.api.flusher.writes}

    config = uvicorn.Config(app, host="127.0.0.1", port=int(port), log_level="info")
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main(sys.argv[1:])
