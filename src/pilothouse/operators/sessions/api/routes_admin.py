"""Templates (any user), nodes and node operations (admins only).

Nodes are read-only here: maintenance goes through a NodeOperation that the controller
carries out (:mod:`pilothouse.operators.sessions.nodeops`), so the API needs no
permission on nodes beyond reading them, and every action leaves a record.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from pilothouse.api import kinds
from pilothouse.client import errors
from pilothouse.operators.sessions import nodeoperation as nodeop_mod
from pilothouse.operators.sessions import template as template_mod
from pilothouse.operators.sessions.api import auth, deps, schemas
from pilothouse.operators.sessions.api import state as state_mod

__all__ = ["router"]

_NODE = kinds.builtin("v1", "Node")
assert _NODE is not None
NODE: kinds.Kind = _NODE
TEMPLATE = template_mod.SessionTemplate.kind_info()
NODE_OPERATION = nodeop_mod.NodeOperation.kind_info()

router = APIRouter(prefix="/api/v1", tags=["admin"])

User = Annotated[auth.User, Depends(auth.current_user)]
Admin = Annotated[auth.User, Depends(auth.admin_user)]
State = Annotated[state_mod.APIState, Depends(deps.state)]


@router.get("/templates", response_model=list[schemas.TemplateOut])
async def list_templates(user: User, api: State) -> list[schemas.TemplateOut]:
    """The SessionTemplates of the sessions' namespace, by name."""
    try:
        page = await api.kube.list_all(TEMPLATE, api.namespace)
    except errors.ApiError as exc:
        raise deps.http_error(exc) from exc
    items = sorted(page.items, key=lambda o: o["metadata"]["name"])
    return [schemas.template_out(o) for o in items]


@router.get("/nodes", response_model=list[schemas.NodeOut])
async def list_nodes(user: Admin, api: State) -> list[schemas.NodeOut]:
    try:
        page = await api.kube.list_all(NODE)
    except errors.ApiError as exc:
        raise deps.http_error(exc) from exc
    items = sorted(page.items, key=lambda o: o["metadata"]["name"])
    return [schemas.node_out(o) for o in items]


def _operation_name(node: str, operation: str) -> str:
    # Node names may be 253 characters; keep the operation's name within that.
    return f"{node[:200]}-{operation}-{secrets.token_hex(4)}"


@router.post(
    "/nodes/{name}/operations",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.NodeOperationOut,
)
async def create_node_operation(
    name: str, body: schemas.NodeOperationCreate, user: Admin, api: State, response: Response
) -> schemas.NodeOperationOut:
    """Create a NodeOperation for node ``name`` (404 if there is no such node); the
    controller carries it out and reports progress in its status."""
    obj: dict[str, Any] = {
        "apiVersion": NODE_OPERATION.api_version,
        "kind": NODE_OPERATION.kind,
        "metadata": {"name": _operation_name(name, body.operation)},
        "spec": body.spec(name),
    }
    try:
        await api.kube.get(NODE, name)
        created: dict[str, Any] = await api.kube.create(obj, field_manager=state_mod.FIELD_MANAGER)
    except errors.ApiError as exc:
        raise deps.http_error(exc) from exc
    op_name = created["metadata"]["name"]
    response.headers["Location"] = f"/api/v1/nodes/{name}/operations/{op_name}"
    return schemas.node_operation_out(created)


@router.get("/nodes/{name}/operations/{operation}", response_model=schemas.NodeOperationOut)
async def get_node_operation(
    name: str, operation: str, user: Admin, api: State
) -> schemas.NodeOperationOut:
    try:
        obj: dict[str, Any] = await api.kube.get(NODE_OPERATION, operation)
    except errors.ApiError as exc:
        raise deps.http_error(exc) from exc
    out = schemas.node_operation_out(obj)
    if out.node != name:
        raise deps.http_error(errors.NotFound({"message": f"no operation {operation!r}"}, 404))
    return out
