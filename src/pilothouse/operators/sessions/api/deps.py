"""What both route modules need: the shared state, the time, and API-server errors mapped
to HTTP answers.

Error mapping (the API server's answer → ours): 404 stays 404; 403 -- which is how an
admission webhook's denial comes back (the quota webhook's message names the limit) -- is
403 with the server's message; a 400 whose message says an admission webhook denied the
request is 403 too (webhooks may pick their own code); 422 Invalid (the CRD schema
refused the object) is 422 with the message; 409 (AlreadyExists, Conflict) is 409;
anything else is 502 Bad Gateway, since the fault is upstream of this API.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status

from pilothouse.client import errors
from pilothouse.operators.sessions.api import state as state_mod

__all__ = ["http_error", "state"]


async def state(request: Request) -> state_mod.APIState:
    """FastAPI dependency: the app's shared state (a coroutine, so FastAPI does not hand
    it to its thread pool: see :func:`.auth.current_user`)."""
    api: state_mod.APIState = request.app.state.api
    return api


def http_error(exc: errors.ApiError) -> HTTPException:
    """The HTTP answer for an API-server error (see the module docstring)."""
    if isinstance(exc, errors.NotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, exc.message)
    if isinstance(exc, errors.Forbidden) or (
        isinstance(exc, errors.BadRequest) and "admission webhook" in exc.message
    ):
        return HTTPException(status.HTTP_403_FORBIDDEN, exc.message)
    if isinstance(exc, errors.Invalid):
        return HTTPException(422, exc.message)  # the constant was renamed across versions
    if isinstance(exc, (errors.Conflict, errors.AlreadyExists)):
        return HTTPException(status.HTTP_409_CONFLICT, exc.message)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"Kubernetes API: {exc.message}")
