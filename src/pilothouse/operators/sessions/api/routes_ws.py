"""``GET /api/v1/ws/sessions``: a WebSocket streaming the token's user's session changes.

Authentication: browsers cannot set headers on a WebSocket, so the bearer token is taken
from the first of

1. the ``Authorization: Bearer <token>`` header (non-browser clients);
2. a ``bearer.<token>`` value offered in ``Sec-WebSocket-Protocol`` (browsers:
   ``new WebSocket(url, ["bearer." + token])``); the server selects that value as the
   subprotocol, as browsers insist on one of theirs being selected;
3. the ``token`` query parameter (simplest, but URLs end up in logs: prefer 2).

A missing or unknown token: the socket is accepted and at once closed with
:data:`CLOSE_UNAUTHORIZED` (4401), before anything is sent. (A refusal during the
handshake would reach a browser only as an anonymous failure, code 1006.)

Then the client receives ``{"type": "snapshot", "sessions": [...]}`` -- its sessions in the
shape of ``GET /api/v1/sessions`` -- and ``{"type": "ADDED" | "MODIFIED" | "DELETED",
"session": {...}}`` for every change to them, from the process's single shared watch
(:mod:`.sessionstream`). After the watch had to list again, a new snapshot replaces
everything the client knew. Close codes: 4429 the client fell behind (reconnect); 1001 the
API is shutting down; 1011 the stream is not running. What the client sends is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from pilothouse.operators.sessions.api import auth, sessionstream
from pilothouse.operators.sessions.api import state as state_mod

__all__ = ["CLOSE_UNAUTHORIZED", "PATH", "SUBPROTOCOL_PREFIX", "router"]

PATH = "/api/v1/ws/sessions"
SUBPROTOCOL_PREFIX = "bearer."
#: The close code for a missing or unknown token (HTTP's 401 in the application range).
CLOSE_UNAUTHORIZED = 4401
_CLOSE_INTERNAL = 1011

router = APIRouter(tags=["sessions"])


def _credentials(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The token the client sent (see the module docstring), and the subprotocol to select
    (the ``bearer.`` one it offered, if any)."""
    offered = next(
        (p for p in websocket.scope.get("subprotocols", []) if p.startswith(SUBPROTOCOL_PREFIX)),
        None,
    )
    scheme, _, token = (websocket.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), offered
    if offered is not None:
        return offered[len(SUBPROTOCOL_PREFIX) :], offered
    return websocket.query_params.get("token"), None


async def _watch_disconnect(websocket: WebSocket, sub: sessionstream.Subscription) -> None:
    # Reading is how a disconnect is noticed while the sender waits for news; the client's
    # own messages mean nothing here.
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            sub.close(sessionstream.Close(None))
            return


@router.websocket(PATH)
async def sessions_ws(websocket: WebSocket) -> None:
    token, subprotocol = _credentials(websocket)
    authenticator: auth.Authenticator = websocket.app.state.authenticator
    user = authenticator.user_for(token) if token else None
    await websocket.accept(subprotocol=subprotocol)
    if user is None:
        await websocket.close(CLOSE_UNAUTHORIZED, "missing or invalid bearer token")
        return
    api: state_mod.APIState = websocket.app.state.api
    if api.session_stream is None:
        await websocket.close(_CLOSE_INTERNAL, "the session stream is not running")
        return
    async with api.session_stream.subscribe(user.name) as sub:
        reader = asyncio.create_task(_watch_disconnect(websocket, sub))
        try:
            while True:
                message = await sub.get()
                if isinstance(message, sessionstream.Close):
                    if message.code is not None:
                        await websocket.close(message.code, message.reason)
                    return
                await websocket.send_json(message)
        except WebSocketDisconnect:
            return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await reader
