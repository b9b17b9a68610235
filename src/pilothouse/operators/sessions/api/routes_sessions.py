"""``/api/v1/sessions``: create, read, change the desired state, heartbeats, connections.

Every route acts for the token's user on Sessions in the configured namespace. A session
that exists but belongs to someone else is answered exactly like one that does not exist
(404), so a user cannot probe for other users' session names.

Writes are small and own only what the API owns: ``spec.state`` by merge patch (after a
read that checks the owner; terminated is final, so leaving it is 409),
``status.lastActivity`` by the heartbeat flusher, the wake annotation by merge patch
(:func:`wake_patch`). Heartbeats never wake a session; connections do.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Response, status

from pilothouse.client import errors
from pilothouse.operators.sessions import common, idle
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions.api import auth, deps, schemas
from pilothouse.operators.sessions.api import state as state_mod

__all__ = ["PREFIX", "router", "wake_patch"]

PREFIX = "/api/v1/sessions"
SESSION = session_mod.Session.kind_info()
# Generated names retry on a clash; with 6 hex digits per user a second clash is unlikely.
_NAME_ATTEMPTS = 3

router = APIRouter(prefix=PREFIX, tags=["sessions"])

User = Annotated[auth.User, Depends(auth.current_user)]
State = Annotated[state_mod.APIState, Depends(deps.state)]


def location(name: str) -> str:
    return f"{PREFIX}/{name}"


def _generated_name(user: str) -> str:
    # A user name is a label value ([A-Za-z0-9._-]); a Session name a DNS label.
    slug = "".join(c if c.isalnum() else "-" for c in user.lower()).strip("-")[:40] or "s"
    return f"{slug}-{secrets.token_hex(3)}"


async def owned_session(api: state_mod.APIState, user: auth.User, name: str) -> dict[str, Any]:
    """The Session ``name`` if ``user`` owns it; 404 otherwise."""
    try:
        obj: dict[str, Any] = await api.kube.get(SESSION, name, api.namespace)
    except errors.ApiError as exc:
        raise deps.http_error(exc) from exc
    owner = (obj.get("spec") or {}).get("user")
    if owner != user.name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"session {name!r} not found")
    api.owners[(api.namespace, name)] = owner
    return obj


def wake_patch(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The merge patch that wakes the hibernated Session ``obj`` for a connection at ``now``.

    Normally the wake annotation, at ``now``. The controller honours it only when it is
    newer than ``status.hibernatedAt`` (second precision), so a connection within the same
    second as the hibernation is dated one second after it: the connection is open, so
    waking is right. While ``hibernatedAt`` is unset the controller has not acted on the
    hibernation yet and would date it after any annotation, losing the request; then the
    desired state is set back to running instead (conditional on the resourceVersion the
    decision was made from, so a concurrent change turns into a 409)."""
    hibernated_at = idle.parse_time((obj.get("status") or {}).get("hibernatedAt"))
    if hibernated_at is None:
        return {
            "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
            "spec": {"state": "running"},
        }
    when = max(now.replace(microsecond=0), hibernated_at + timedelta(seconds=1))
    wake = {common.ANNOTATION_WAKE_REQUESTED_AT: idle.format_time(when)}
    return {"metadata": {"annotations": wake}}


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=schemas.SessionOut)
async def create_session(
    body: schemas.SessionCreate, user: User, api: State, response: Response
) -> schemas.SessionOut:
    """Create a Session for the token's user; the controller starts it (poll the
    ``Location`` or watch for ``phase``)."""
    attempts = 1 if body.name else _NAME_ATTEMPTS
    for attempt in range(attempts):
        name = body.name or _generated_name(user.name)
        obj = {
            "apiVersion": SESSION.api_version,
            "kind": SESSION.kind,
            "metadata": {
                "name": name,
                "namespace": api.namespace,
                "labels": {common.LABEL_USER: user.name},
            },
            "spec": body.spec(user.name),
        }
        try:
            created: dict[str, Any] = await api.kube.create(
                obj, field_manager=state_mod.FIELD_MANAGER
            )
        except errors.AlreadyExists as exc:
            if attempt == attempts - 1:
                raise deps.http_error(exc) from exc
            continue
        except errors.ApiError as exc:
            raise deps.http_error(exc) from exc
        api.owners[(api.namespace, name)] = user.name
        response.headers["Location"] = location(name)
        return schemas.session_out(created)
    raise AssertionError("unreachable")  # pragma: no cover


@router.get("", response_model=schemas.SessionList)
async def list_sessions(user: User, api: State) -> schemas.SessionList:
    """The user's sessions, by name."""
    try:
        page = await api.kube.list_all(
            SESSION, api.namespace, label_selector=f"{common.LABEL_USER}={user.name}"
        )
    except errors.ApiError as exc:
        raise deps.http_error(exc) from exc
    # The label narrows the list; the spec decides (anyone may edit a label).
    mine = [o for o in page.items if (o.get("spec") or {}).get("user") == user.name]
    mine.sort(key=lambda o: o["metadata"]["name"])
    return schemas.SessionList(items=[schemas.session_out(o) for o in mine])


@router.get("/{name}", response_model=schemas.SessionOut)
async def get_session(name: str, user: User, api: State) -> schemas.SessionOut:
    return schemas.session_out(await owned_session(api, user, name))


async def _set_state(
    api: state_mod.APIState, user: auth.User, name: str, state: str
) -> schemas.SessionOut:
    obj = await owned_session(api, user, name)
    current = (obj.get("spec") or {}).get("state")
    if current == state:
        return schemas.session_out(obj)
    if current == "terminated":
        raise HTTPException(status.HTTP_409_CONFLICT, f"session {name!r} is terminated")
    # The resourceVersion makes the patch conditional: a concurrent change (the controller
    # waking or idling the session) is a 409 to retry, not silently overwritten.
    patch = {
        "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
        "spec": {"state": state},
    }
    try:
        updated: dict[str, Any] = await api.kube.patch(
            SESSION, name, patch, namespace=api.namespace, field_manager=state_mod.FIELD_MANAGER
        )
    except errors.ApiError as exc:
        raise deps.http_error(exc) from exc
    return schemas.session_out(updated)


@router.delete("/{name}", status_code=status.HTTP_202_ACCEPTED, response_model=schemas.SessionOut)
async def terminate_session(name: str, user: User, api: State) -> schemas.SessionOut:
    """Terminate: the controller releases the workload. The Session stays as a record."""
    return await _set_state(api, user, name, "terminated")


@router.post(
    "/{name}/hibernate", status_code=status.HTTP_202_ACCEPTED, response_model=schemas.SessionOut
)
async def hibernate_session(name: str, user: User, api: State) -> schemas.SessionOut:
    return await _set_state(api, user, name, "hibernated")


@router.post(
    "/{name}/resume", status_code=status.HTTP_202_ACCEPTED, response_model=schemas.SessionOut
)
async def resume_session(name: str, user: User, api: State) -> schemas.SessionOut:
    return await _set_state(api, user, name, "running")


@router.post("/{name}/heartbeat", status_code=status.HTTP_204_NO_CONTENT)
async def heartbeat(name: str, user: User, api: State) -> Response:
    """Record activity now (server time: clients' clocks are not trusted). Coalesced: see
    :mod:`.heartbeats` for when it reaches ``status.lastActivity``."""
    key = (api.namespace, name)
    owner = api.owners.get(key)
    if owner is None:
        # First heartbeat of a session this process has not seen: one read, then cached.
        await owned_session(api, user, name)
    elif owner != user.name:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"session {name!r} not found")
    api.flusher.record(key, api.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{name}/connections",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ConnectionOut,
)
async def open_connection(
    name: str,
    user: User,
    api: State,
    response: Response,
    body: schemas.ConnectionCreate | None = None,
) -> schemas.ConnectionOut:
    """Record a connection; a hibernated session is asked to wake (:func:`wake_patch`)."""
    obj = await owned_session(api, user, name)
    spec_state = (obj.get("spec") or {}).get("state")
    if spec_state == "terminated":
        raise HTTPException(status.HTTP_409_CONFLICT, f"session {name!r} is terminated")
    now = api.now()
    woke = spec_state == "hibernated"
    if woke:
        patch = wake_patch(obj, now)
        try:
            await api.kube.patch(
                SESSION, name, patch, namespace=api.namespace, field_manager=state_mod.FIELD_MANAGER
            )
        except errors.ApiError as exc:
            raise deps.http_error(exc) from exc
    # A connection is activity: without it a session woken now could idle out at once.
    api.flusher.record((api.namespace, name), now)
    row = await api.database.open_connection(
        api.namespace, name, user.name, body.client if body else None, now
    )
    response.headers["Location"] = f"{location(name)}/connections/{row.id}"
    return schemas.ConnectionOut(
        id=row.id, session=name, client=row.client, opened_at=now, woke=woke
    )


@router.delete("/{name}/connections/{conn_id}", status_code=status.HTTP_204_NO_CONTENT)
async def close_connection(name: str, conn_id: str, user: User, api: State) -> Response:
    """Mark a connection closed (404 when it is not an open connection of the session)."""
    await owned_session(api, user, name)
    if not await api.database.close_connection(api.namespace, name, conn_id, api.now()):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no open connection {conn_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
