"""Request and response bodies of the sessions API (pydantic), camelCase on the wire.

Requests forbid unknown fields, so a typo (``idleTimout``) is a 422 rather than a silently
ignored setting; the pieces a Session spec shares with the CRD (resources, home, env,
durations) reuse the CRD's own models and patterns, so the API accepts exactly what the API
server would. Responses are built from the objects' JSON (:func:`session_out` and friends),
tolerating missing status: a Session the controller has not seen yet has none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from pilothouse.operators.sessions import common, duration
from pilothouse.operators.sessions import nodeoperation as nodeop_mod
from pilothouse.operators.sessions import session as session_mod

__all__ = [
    "DNS_LABEL",
    "ConnectionCreate",
    "ConnectionOut",
    "NodeOperationCreate",
    "NodeOperationOut",
    "NodeOut",
    "SessionCreate",
    "SessionList",
    "SessionOut",
    "TemplateOut",
    "node_operation_out",
    "node_out",
    "session_out",
    "template_out",
]

#: A DNS-1123 label: what a Session name must be (its Deployment and Service are named
#: ``session-<name>``, and a Service name is a DNS label, hence 55 = 63 - len("session-")).
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_MAX_SESSION_NAME = 55

_Duration = Annotated[str, Field(pattern=duration.PATTERN, max_length=32)]


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class _Request(_Body):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SessionCreate(_Request):
    """``POST /api/v1/sessions``. The user comes from the token, never from the body."""

    name: Annotated[str, Field(pattern=DNS_LABEL, max_length=_MAX_SESSION_NAME)] | None = None
    """The Session's name; generated from the user's name when omitted."""
    template: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    image: Annotated[str, Field(min_length=1)] | None = None
    resources: common.ResourceRequirements | None = None
    state: Literal["running", "hibernated"] = "running"
    idle_timeout: _Duration | None = None
    max_session_duration: _Duration | None = None
    home: session_mod.HomeSpec | None = None
    env: list[common.EnvVar] = Field(default_factory=list)

    def spec(self, user: str) -> dict[str, Any]:
        """The Session's spec as JSON, for ``user``."""
        out: dict[str, Any] = {"user": user, "state": self.state}
        for key in ("template", "image", "idle_timeout", "max_session_duration"):
            value = getattr(self, key)
            if value is not None:
                out[to_camel(key)] = value
        if self.resources is not None:
            out["resources"] = self.resources.model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        if self.home is not None:
            out["home"] = self.home.model_dump(mode="json", by_alias=True, exclude_none=True)
        if self.env:
            out["env"] = [e.model_dump(mode="json", by_alias=True) for e in self.env]
        return out


class SessionOut(_Body):
    """A session as clients see it: desired state and the controller's status."""

    name: str
    namespace: str
    user: str
    template: str | None = None
    image: str | None = None
    state: str
    """The desired state (spec)."""
    phase: str | None = None
    """What the controller reports (status); None until it has seen the session."""
    url: str | None = None
    stopped_by: str | None = None
    message: str | None = None
    last_activity: str | None = None
    """The last heartbeat written to status (heartbeats are coalesced: it may lag the
    latest one by up to the heartbeat interval)."""
    last_reconcile_time: str | None = None
    """When the controller last wrote status: how stale ``phase`` may be."""
    node_name: str | None = None
    created_at: str | None = None


class SessionList(_Body):
    items: list[SessionOut]


class ConnectionCreate(_Request):
    """``POST /api/v1/sessions/{name}/connections``."""

    client: Annotated[str, Field(max_length=255)] | None = None
    """What connected (a browser, an IDE...), for the record."""


class ConnectionOut(_Body):
    id: str
    session: str
    client: str | None = None
    opened_at: datetime
    woke: bool = False
    """Whether this connection asked the controller to wake a hibernated session."""


class TemplateOut(_Body):
    name: str
    image: str | None = None
    display_name: str | None = None
    description: str | None = None
    resources: dict[str, Any] | None = None
    ports: list[dict[str, Any]] = Field(default_factory=list)


class NodeOut(_Body):
    name: str
    schedulable: bool
    ready: bool | None = None
    """The node's Ready condition (None when it reports none)."""
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[dict[str, Any]] = Field(default_factory=list)


class NodeOperationCreate(_Request):
    """``POST /api/v1/nodes/{name}/operations``: a NodeOperation spec without the node."""

    operation: nodeop_mod.Operation
    labels: dict[str, str] = Field(default_factory=dict)
    label_keys: list[str] = Field(default_factory=list)
    taints: list[nodeop_mod.Taint] = Field(default_factory=list)
    drain: nodeop_mod.DrainOptions | None = None

    def spec(self, node: str) -> dict[str, Any]:
        return nodeop_mod.NodeOperationSpec(
            node=node,
            operation=self.operation,
            labels=self.labels,
            label_keys=self.label_keys,
            taints=self.taints,
            drain=self.drain,
        ).model_dump(mode="json", by_alias=True, exclude_none=True)


class NodeOperationOut(_Body):
    name: str
    node: str
    operation: str
    phase: str | None = None
    progress: str | None = None
    message: str | None = None


def _created(obj: dict[str, Any]) -> str | None:
    value = obj.get("metadata", {}).get("creationTimestamp")
    return str(value) if value else None


def session_out(obj: dict[str, Any]) -> SessionOut:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    return SessionOut(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        user=spec.get("user", ""),
        template=spec.get("template"),
        image=spec.get("image"),
        state=spec.get("state", "running"),
        phase=st.get("phase"),
        url=st.get("url"),
        stopped_by=st.get("stoppedBy"),
        message=st.get("message"),
        last_activity=st.get("lastActivity"),
        last_reconcile_time=st.get("lastReconcileTime"),
        node_name=st.get("nodeName"),
        created_at=_created(obj),
    )


def template_out(obj: dict[str, Any]) -> TemplateOut:
    spec = obj.get("spec") or {}
    return TemplateOut(
        name=obj.get("metadata", {}).get("name", ""),
        image=spec.get("image"),
        display_name=spec.get("displayName"),
        description=spec.get("description"),
        resources=spec.get("resources"),
        ports=spec.get("ports") or [],
    )


def node_out(obj: dict[str, Any]) -> NodeOut:
    spec = obj.get("spec") or {}
    conditions = (obj.get("status") or {}).get("conditions") or []
    ready = next((c.get("status") == "True" for c in conditions if c.get("type") == "Ready"), None)
    return NodeOut(
        name=obj.get("metadata", {}).get("name", ""),
        schedulable=not spec.get("unschedulable", False),
        ready=ready,
        labels=obj.get("metadata", {}).get("labels") or {},
        taints=spec.get("taints") or [],
    )


def node_operation_out(obj: dict[str, Any]) -> NodeOperationOut:
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    return NodeOperationOut(
        name=obj.get("metadata", {}).get("name", ""),
        node=spec.get("node", ""),
        operation=spec.get("operation", ""),
        phase=st.get("phase"),
        progress=st.get("progress") or None,
        message=st.get("message") or None,
    )
