"""``NodeOperation``: a request for one maintenance action on one node, and its record.

The sessions API never touches nodes itself: it creates a NodeOperation (cluster-scoped,
``sessions.pilothouse.dev/v1alpha1``) and the controller in
:mod:`pilothouse.operators.sessions.nodeops` carries it out -- cordon, uncordon, drain,
label, unlabel, taint, untaint -- reporting ``phase`` (Pending → Running → Succeeded or
Failed), ``progress``, the evicted and pending pods, a message, and start/end times.

Design choices:

* **An operation is a record, not a desired state.** Once Succeeded or Failed it is never
  run again (uncordoning is a new NodeOperation, not an edit of the cordon), so the list of
  NodeOperations is the node's maintenance history. The spec is therefore immutable (a CEL
  transition rule): changing a running drain's options under it would make its status
  describe something nobody asked for.
* **Rules are checked twice.** Cross-field rules (a ``label`` needs labels, a ``taint``
  needs effects...) are CEL rules in the CRD, so the API server refuses a malformed
  request at creation; :func:`spec_problems` checks the same rules in Python, because
  the controller must still fail cleanly (status Failed, not an exception loop) for an
  object that reached the cluster another way, e.g. created before the CRD had the rules.
  The pydantic models themselves stay permissive for the same reason: a model that
  refused to parse a stored object would make the reconciler crash on it forever.
* Durations (``drain.timeout``) are Go-style strings (``"90s"``, ``"5m"``) validated
  by the schema's pattern, the syntax Kubernetes users already write (``kubectl drain
  --timeout=5m``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from pilothouse import crd
from pilothouse.operators.sessions import common, duration

__all__ = [
    "CRDS",
    "DEFAULT_TIMEOUT",
    "OPERATIONS",
    "DrainOptions",
    "NodeOperation",
    "NodeOperationSpec",
    "NodeOperationStatus",
    "Taint",
    "drain_options",
    "spec_problems",
    "status_of",
    "timeout_seconds",
]

Operation = Literal["cordon", "uncordon", "drain", "label", "unlabel", "taint", "untaint"]
OPERATIONS: tuple[str, ...] = (
    "cordon",
    "uncordon",
    "drain",
    "label",
    "unlabel",
    "taint",
    "untaint",
)
Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
Effect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

#: How long a drain may take when ``drain.timeout`` is not given (kubectl waits forever;
#: a record that never ends helps nobody, so the operator bounds it).
DEFAULT_TIMEOUT = "5m"

# Bounds keep the CEL rules' estimated cost under the API server's limit (it refuses rules
# over unbounded lists and maps) and keep one NodeOperation a reasonable size.
_MAX_ITEMS = 64
_MAX_NAME = 253
_MAX_VALUE = 63
_MAX_STATUS_PODS = 1024


class Taint(crd.Model):
    """A node taint (``key=value:effect``)."""

    key: Annotated[str, Field(min_length=1, max_length=_MAX_NAME)]
    """The taint's key."""
    value: Annotated[str, Field(max_length=_MAX_VALUE)] = ""
    """The taint's value (taint only; ignored by untaint)."""
    effect: Effect | None = None
    """NoSchedule, PreferNoSchedule or NoExecute. Required to taint; for untaint, removes
    only the taint with this effect (all taints of the key when omitted)."""


class DrainOptions(crd.Model):
    """How a drain evicts pods (kubectl drain's flags)."""

    grace_period_seconds: Annotated[int, Field(ge=0)] | None = None
    """The grace period given to each evicted pod (the pod's own when omitted)."""
    timeout: Annotated[str, Field(pattern=duration.PATTERN, max_length=32)] = DEFAULT_TIMEOUT
    """How long the drain may take before it fails, as a Go duration (``90s``, ``5m``)."""
    ignore_daemon_sets: bool = True
    """Leave DaemonSet pods on the node (they would come back at once); when false a
    DaemonSet pod makes the drain fail, as ``kubectl drain`` without --ignore-daemonsets."""
    delete_empty_dir_data: bool = False
    """Evict pods with emptyDir volumes, losing that data; otherwise such pods fail the
    drain."""
    force: bool = False
    """Evict pods no controller manages (they are not recreated anywhere); otherwise such
    pods fail the drain."""


@crd.validations(
    "self.operation != 'label' || size(self.labels) > 0",
    message="operation label needs labels",
)
@crd.validations(
    "self.operation != 'unlabel' || size(self.labelKeys) > 0 || size(self.labels) > 0",
    message="operation unlabel needs labelKeys (or labels)",
)
@crd.validations(
    "self.operation != 'taint' || (size(self.taints) > 0 && self.taints.all(t, has(t.effect)))",
    message="operation taint needs taints, each with an effect",
)
@crd.validations(
    "self.operation != 'untaint' || size(self.taints) > 0",
    message="operation untaint needs taints (keys, optionally effects)",
)
@crd.validations("self == oldSelf", message="spec is immutable: create a new NodeOperation")
class NodeOperationSpec(crd.Model):
    """What to do to which node."""

    node: Annotated[str, Field(min_length=1, max_length=_MAX_NAME)]
    """The node's name."""
    operation: Operation
    """cordon, uncordon, drain, label, unlabel, taint or untaint."""
    labels: Annotated[dict[str, str], Field(max_length=_MAX_ITEMS)] = {}
    """Labels to set (label), or whose keys to remove (unlabel)."""
    label_keys: Annotated[
        list[Annotated[str, Field(max_length=_MAX_NAME)]], Field(max_length=_MAX_ITEMS)
    ] = []
    """Label keys to remove (unlabel)."""
    taints: Annotated[list[Taint], Field(max_length=_MAX_ITEMS)] = []
    """Taints to add or replace (taint; matched by key and effect), or to remove
    (untaint; by key, and by effect where given)."""
    drain: DrainOptions | None = None
    """Options of a drain (defaults when omitted)."""


class Condition(crd.Model):
    """A ``metav1.Condition``."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""
    observed_generation: int = 0


class NodeOperationStatus(crd.Model):
    """What the controller did, as a record."""

    phase: Phase | None = None
    """Running, Succeeded or Failed (final); empty until the controller picks the operation
    up. Pending is part of the API for operations that wait their turn; this controller
    starts each operation as soon as it sees it, so it never reports it."""
    progress: str = ""
    """For drains, e.g. ``3/5 pods evicted``."""
    evicted_pods: Annotated[list[str], Field(max_length=_MAX_STATUS_PODS)] = []
    """Pods (``namespace/name``) whose eviction the API server accepted."""
    pending_pods: Annotated[list[str], Field(max_length=_MAX_STATUS_PODS)] = []
    """Pods (``namespace/name``) that still have to leave the node."""
    message: str = ""
    """What happened, or what blocks the operation (the pods, the disruption budget)."""
    eviction_retries: int = 0
    """Consecutive eviction rounds refused by a disruption budget; the retry delay doubles
    with each, up to the controller's maximum."""
    start_time: str | None = None
    """When the controller started the operation (RFC 3339)."""
    completion_time: str | None = None
    """When it succeeded or failed (RFC 3339)."""
    observed_generation: int = 0
    """The generation of the spec this status describes."""
    conditions: list[Condition] = []
    """``Succeeded``: Unknown while running, True or False at the end, with the reason."""


class NodeOperation(
    crd.CustomResource,
    group=common.GROUP,
    version=common.VERSION,
    kind="NodeOperation",
    scope="Cluster",
    short_names=("nodeop",),
    categories=("sessions",),
    printer_columns=(
        crd.PrinterColumn("Node", "string", ".spec.node"),
        crd.PrinterColumn("Operation", "string", ".spec.operation"),
        crd.PrinterColumn("Phase", "string", ".status.phase"),
        crd.PrinterColumn("Progress", "string", ".status.progress"),
        crd.PrinterColumn("Message", "string", ".status.message", priority=1),
        crd.AGE,
    ),
):
    """A maintenance operation on a node: cordon, uncordon, drain, label, unlabel, taint or
    untaint. Carried out once; the object stays as the record of what was done."""

    spec: NodeOperationSpec
    status: NodeOperationStatus | None = None


CRDS: list[type[crd.CustomResource]] = [NodeOperation]


def spec_problems(spec: NodeOperationSpec) -> list[str]:
    """What makes ``spec`` impossible to carry out (empty when nothing): the CRD's CEL rules,
    checked again in Python, plus what CEL cannot say (a parseable timeout)."""
    problems: list[str] = []
    op = spec.operation
    if op == "label" and not spec.labels:
        problems.append("operation label needs labels")
    if op == "unlabel" and not (spec.label_keys or spec.labels):
        problems.append("operation unlabel needs labelKeys (or labels)")
    if op == "taint":
        if not spec.taints:
            problems.append("operation taint needs taints, each with an effect")
        problems += [f"taint {t.key!r} needs an effect" for t in spec.taints if not t.effect]
    if op == "untaint" and not spec.taints:
        problems.append("operation untaint needs taints (keys, optionally effects)")
    if spec.drain is not None:
        try:
            duration.parse_duration(spec.drain.timeout)
        except duration.DurationError as exc:
            problems.append(f"drain.timeout: {exc}")
    return problems


def drain_options(spec: NodeOperationSpec) -> DrainOptions:
    """The drain options in effect (the defaults when the spec gives none)."""
    return spec.drain if spec.drain is not None else DrainOptions()


def timeout_seconds(spec: NodeOperationSpec) -> float:
    """The drain's timeout in seconds (call after :func:`spec_problems` found none)."""
    return duration.parse_duration(drain_options(spec).timeout)


def status_of(op: NodeOperation) -> dict[str, Any]:
    """The status as a JSON dict (empty when there is none yet)."""
    if op.status is None:
        return {}
    return op.status.model_dump(mode="json", by_alias=True, exclude_none=True)
