"""The ``Session`` resource: one user's workspace, its desired state and what it became.

A Session is the whole contract between the sessions API and the controllers: the API only
creates Sessions, changes ``spec.state``, writes ``status.lastActivity`` (heartbeats) and
the wake annotation; the lifecycle controller (:mod:`.lifecycle`) owns the workload and the
rest of the status. Field ownership is split accordingly, so the controller's server-side
apply of status never takes ``lastActivity`` from the API.

Spec: ``user``, ``template`` (a SessionTemplate in the same namespace) or ``image``,
``resources``, ``state`` (running | hibernated | terminated), ``idleTimeout`` (Go duration,
default ``30m``; ``"0"`` disables idle hibernation), ``maxSessionDuration`` (optional),
``home`` (a persistent volume for the home directory) and ``env``. Durations are checked
by the API server with :data:`.duration.PATTERN`, so a malformed one never reaches the
controller.

Status: ``phase`` (derived from the cluster, see :mod:`.phase`), ``conditions`` (``Ready``,
``StorageReady``), ``lastActivity``, ``stoppedBy``, ``podName``, ``nodeName``, ``url``,
``observedGeneration``, ``lastReconcileTime`` (so readers can tell stale status), and the
controller's bookkeeping ``startedAt`` (when the current running period began:
``maxSessionDuration`` counts from it) and ``hibernatedAt`` (when the session was last
stopped: a wake request must be newer).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from pilothouse import crd
from pilothouse.operators.sessions import common, duration

__all__ = [
    "PHASES",
    "STATES",
    "Condition",
    "HomeSpec",
    "Session",
    "SessionSpec",
    "SessionStatus",
]

State = Literal["running", "hibernated", "terminated"]
Phase = Literal["Pending", "Running", "Hibernated", "Terminated", "Failed"]
StoppedBy = Literal["user", "idle", "max-duration"]

STATES: tuple[str, ...] = ("running", "hibernated", "terminated")
PHASES: tuple[str, ...] = ("Pending", "Running", "Hibernated", "Terminated", "Failed")

Duration = Annotated[str, Field(pattern=duration.PATTERN)]


class HomeSpec(crd.Model):
    """A PersistentVolumeClaim mounted as the user's home directory."""

    enabled: bool = True
    size: crd.IntOrString = "1Gi"
    """Requested capacity (a quantity)."""
    storage_class: str | None = None
    """The StorageClass; the cluster's default when unset."""
    keep_on_terminate: bool = False
    """Keep the claim (and the user's files) when the session is terminated."""


class SessionSpec(crd.Model):
    user: Annotated[str, Field(min_length=1)]
    """Who the session belongs to."""
    template: str | None = None
    """A SessionTemplate in the session's namespace; its image, resources, ports and env are
    the defaults of this session."""
    image: str | None = None
    """The container image; overrides the template's."""
    resources: common.ResourceRequirements | None = None
    """Overrides the template's resources."""
    state: State = "running"
    """The desired state: running, hibernated (scaled to zero, home kept) or terminated."""
    idle_timeout: Duration = "30m"
    """Hibernate after this long without activity (Go duration; "0" never)."""
    max_session_duration: Duration | None = None
    """Hibernate after this long running, whatever the activity (Go duration)."""
    home: HomeSpec | None = None
    """A persistent home directory."""
    env: list[common.EnvVar] = Field(default_factory=list)
    """Environment variables, added to (and overriding) the template's."""


class Condition(crd.Model):
    """A ``metav1.Condition``."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class SessionStatus(crd.Model):
    phase: Phase | None = None
    conditions: Annotated[list[Condition], crd.list_type("map", keys=["type"])] = Field(
        default_factory=list
    )
    last_activity: str | None = None
    """The last heartbeat (RFC 3339), written by the sessions API."""
    stopped_by: StoppedBy | None = None
    """Why a session that is not running stopped."""
    message: str | None = None
    """A human-readable explanation of the phase."""
    pod_name: str | None = None
    node_name: str | None = None
    url: str | None = None
    """The in-cluster URL of the session (its Service's DNS name)."""
    observed_generation: int | None = None
    last_reconcile_time: str | None = None
    started_at: str | None = None
    """When the current running period began (maxSessionDuration counts from here)."""
    hibernated_at: str | None = None
    """When the session was last stopped; a wake request must be newer."""


class Session(
    crd.CustomResource,
    group=common.GROUP,
    version=common.VERSION,
    kind="Session",
    short_names=("sess",),
    categories=("sessions",),
    printer_columns=(
        crd.PrinterColumn("User", "string", ".spec.user"),
        crd.PrinterColumn("State", "string", ".spec.state"),
        crd.PrinterColumn("Phase", "string", ".status.phase"),
        crd.PrinterColumn("Last Activity", "date", ".status.lastActivity"),
        crd.PrinterColumn("Node", "string", ".status.nodeName", priority=1),
        crd.PrinterColumn("URL", "string", ".status.url", priority=1),
        crd.AGE,
    ),
):
    """A user's workspace session."""

    spec: SessionSpec
    status: SessionStatus | None = None
