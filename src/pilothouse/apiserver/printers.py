"""Server-side columns of built-in kinds, as kube-apiserver prints them for ``kubectl get``.

A port of ``k8s.io/kubernetes/pkg/printers/internalversion/printers.go`` (plus the
kube-aggregator APIService convertor): for each ``(group, resource)`` a :class:`Printer`
holds the column definitions and a function from one stored object to its cells.
:mod:`pilothouse.apiserver.tables` assembles the ``meta.k8s.io/v1`` Table; resources without
a printer get upstream's default convertor there (``Name``, ``Created At``).

Design choices:

* The server always prints in wide mode (upstream's table convertor passes ``Wide: true``);
  priority-1 columns are part of every row and ``kubectl`` hides them unless ``-o wide``.
* Printers read the versioned JSON we store, not Go's internal types. Where upstream relies on
  v1 defaulting having filled a field (``replicas``, ``suspend``, ``type``, ``protocol``) the
  printer assumes the defaulted value, so an object the real server would have defaulted
  prints the same.
* Cell values keep upstream's Go types: ``int64`` cells are ints, strings stay strings even
  under a ``boolean`` column when upstream prints ``"True"``.
* Column descriptions that upstream takes from generated Swagger docs are read from the
  OpenAPI definitions of the emulated release (same source text), lazily and once.
* Ages are relative to the caller's ``now`` (the server clock), never the wall clock, so
  tests and simulated time agree; quantities print as stored.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from pilothouse.apiserver import schemas

Obj = Mapping[str, Any]
Cells = Callable[[Obj, dt.datetime], list[Any]]

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})"
)


# -- time ----------------------------------------------------------------------------------


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``: 2-3 significant figures,
    ``"<invalid>"`` for clearly negative durations (2s of clock skew are tolerated)."""
    secs = int(seconds)  # Go truncates toward zero
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        return f"{minutes}m" if secs % 60 == 0 else f"{minutes}m{secs % 60}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, hours // 24 % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp (``metav1.Time``/``MicroTime`` JSON) as an aware datetime;
    None for a missing, null or malformed value (Go's zero time)."""
    m = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    offset = dt.timedelta(0)
    if zone != "Z":
        offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        offset = -offset if zone[0] == "-" else offset
    try:
        return dt.datetime(year, month, day, hour, minute, second, micros, dt.timezone(offset))
    except ValueError:
        return None


def _aware(now: dt.datetime) -> dt.datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)


def since(timestamp: Any, now: dt.datetime) -> str:
    """Upstream ``translateTimestampSince``: the age of a timestamp, ``<unknown>`` if unset."""
    t = parse_time(timestamp)
    if t is None:
        return "<unknown>"
    return human_duration((_aware(now) - t).total_seconds())


def age(obj: Obj, now: dt.datetime) -> str:
    return since(_map(obj, "metadata").get("creationTimestamp"), now)


# -- reading versioned JSON ------------------------------------------------------------------


def _map(obj: Any, *path: str) -> Mapping[str, Any]:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj if isinstance(obj, Mapping) else {}


def _list(obj: Any, *path: str) -> list[Any]:
    *parents, last = path
    value = _map(obj, *parents).get(last)
    return value if isinstance(value, list) else []


def _maps(obj: Any, *path: str) -> list[Mapping[str, Any]]:
    return [item for item in _list(obj, *path) if isinstance(item, Mapping)]


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _name(obj: Obj) -> str:
    return _str(_map(obj, "metadata").get("name"))


def _deleting(obj: Obj) -> bool:
    return _map(obj, "metadata").get("deletionTimestamp") is not None


def _condition(conditions: list[Mapping[str, Any]], ctype: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == ctype), None)


def _quantity(value: Any) -> str:
    # resource.Quantity's String() of the zero value; stored quantities print as stored.
    return str(value) if isinstance(value, str | int | float) else "0"


def _int_or_string(value: Any) -> str:
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""


# -- labels and selectors ------------------------------------------------------------------

_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _valid_key(key: Any) -> TypeGuard[str]:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def _valid_value(value: Any) -> bool:
    return isinstance(value, str) and (
        value == "" or (len(value) <= 63 and _LABEL_NAME.fullmatch(value) is not None)
    )


def format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted by key, ``<none>`` when empty."""
    pairs = sorted(labels.items()) if isinstance(labels, Mapping) else []
    return ",".join(f"{k}={v}" for k, v in pairs) or "<none>"


def selector_string(selector: Any) -> str | None:
    """``metav1.LabelSelectorAsSelector(sel).String()``; None when the selector is invalid
    (upstream's conversion error). A missing or empty selector is ``""``."""
    if not isinstance(selector, Mapping):
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in _map(selector, "matchLabels").items():
        if not _valid_key(key) or not _valid_value(value):
            return None
        reqs.append((key, f"{key}={value}"))
    for expr in _maps(selector, "matchExpressions"):
        ekey, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if not _valid_key(ekey) or not isinstance(values, list):
            return None
        if op in ("In", "NotIn"):
            if not values or not all(_valid_value(v) for v in values):
                return None
            shown = values[0] if len(values) == 1 else ",".join(sorted(values))
            reqs.append((ekey, f"{ekey} {op.lower()} ({shown})"))
        elif op in ("Exists", "DoesNotExist") and not values:
            reqs.append((ekey, ekey if op == "Exists" else f"!{ekey}"))
        else:
            return None
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0]))


def format_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: ``<none>`` when empty, ``<error>`` when invalid."""
    text = selector_string(selector)
    return "<error>" if text is None else text or "<none>"


def _containers(pod_spec: Any) -> list[str]:
    containers = _maps(pod_spec, "containers")
    names = ",".join(_str(c.get("name")) for c in containers)
    images = ",".join(_str(c.get("image")) for c in containers)
    return [names, images]


# -- column definitions --------------------------------------------------------------------

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


@functools.cache
def _swagger_doc(definition: str, field: str) -> str:
    name = definition if definition.startswith("io.k8s.") else f"io.k8s.api.{definition}"
    try:
        node = schemas.definition(name).field(field)
    except (KeyError, RuntimeError, OSError):
        return ""
    description = node.raw.get("description") if node is not None else None
    return description if isinstance(description, str) else ""


@dataclass(frozen=True)
class Column:
    """One ``TableColumnDefinition``. ``doc`` is the description, or the ``(definition,
    field)`` whose OpenAPI description upstream uses (``core.v1.PodStatus``, ``podIP``)."""

    name: str
    doc: str | tuple[str, str] = ""
    type: str = "string"
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        doc = self.doc if isinstance(self.doc, str) else _swagger_doc(*self.doc)
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": doc,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class Printer:
    """How one resource prints: its columns and a function of (object, now) to cells."""

    columns: tuple[Column, ...]
    cells: Cells
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None


NAME = Column("Name", (_META, "name"), format="name")
AGE = Column("Age", (_META, "creationTimestamp"))
CREATED_AT = Column("Created At", (_META, "creationTimestamp"), type="date")


def _c(name: str, doc: str | tuple[str, str] = "", type: str = "string") -> Column:
    return Column(name, doc, type)


def _w(name: str, doc: str | tuple[str, str] = "", type: str = "string") -> Column:
    return Column(name, doc, type, priority=1)


CONTAINERS = _w("Containers", "Names of each container in the template.")
IMAGES = _w("Images", "Images referenced by each container in the template.")

_REGISTRY: dict[tuple[str, str], Printer] = {}


def register(
    group: str,
    resource: str,
    *columns: Column,
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None,
) -> Callable[[Cells], Cells]:
    """Decorator: the decorated cell function prints ``resource`` of ``group``."""

    def add(cells: Cells) -> Cells:
        _REGISTRY[(group, resource)] = Printer(columns, cells, conditions)
        return cells

    return add


def printer_for(group: str, resource: str) -> Printer | None:
    """The printer of a built-in resource (plural name), or None for the default one."""
    return _REGISTRY.get((group, resource))


def printed_resources() -> list[tuple[str, str]]:
    """The ``(group, resource)`` pairs that have a printer."""
    return sorted(_REGISTRY)


# -- workloads -----------------------------------------------------------------------------


def _later(current: dt.datetime | None, candidate: dt.datetime | None) -> dt.datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or current < candidate else current


def _finished(container_status: Obj) -> dt.datetime | None:
    return parse_time(_map(container_status, "lastState", "terminated").get("finishedAt"))


def _exit_reason(terminated: Obj) -> str:
    reason = _str(terminated.get("reason"))
    if reason:
        return reason
    signal = _int(terminated.get("signal"))
    return f"Signal:{signal}" if signal else f"ExitCode:{_int(terminated.get('exitCode'))}"


def _pod_conditions(pod: Obj) -> list[dict[str, str]]:
    phase = _map(pod, "status").get("phase")
    if phase not in ("Succeeded", "Failed"):
        return []
    message = "The pod has completed successfully." if phase == "Succeeded" else "The pod failed."
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


@register(
    "",
    "pods",
    NAME,
    _c("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _c("Status", "The aggregate status of the containers in this pod."),
    _c(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the "
        "last container in this pod has restarted.",
    ),
    AGE,
    _w("IP", ("core.v1.PodStatus", "podIP")),
    _w("Node", ("core.v1.PodSpec", "nodeName")),
    _w("Nominated Node", ("core.v1.PodStatus", "nominatedNodeName")),
    _w("Readiness Gates", ("core.v1.PodSpec", "readinessGates")),
    conditions=_pod_conditions,
)
def _pod(pod: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(pod, "spec"), _map(pod, "status")
    conditions = _maps(status, "conditions")
    init_specs = _maps(spec, "initContainers")
    init_by_name = {c.get("name"): c for c in init_specs}
    restartable = {n for n, c in init_by_name.items() if c.get("restartPolicy") == "Always"}
    total = len(_list(spec, "containers"))
    total += sum(1 for c in init_specs if c.get("restartPolicy") == "Always")
    phase = _str(status.get("phase"))
    reason = _str(status.get("reason")) or phase
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions
    ):
        reason = "SchedulingGated"

    restarts = sidecar_restarts = ready = 0
    last: dt.datetime | None = None
    sidecar_last: dt.datetime | None = None
    initializing = False
    for i, cs in enumerate(_maps(status, "initContainerStatuses")):
        restarts += _int(cs.get("restartCount"))
        last = _later(last, _finished(cs))
        is_sidecar = cs.get("name") in restartable
        if is_sidecar:
            sidecar_restarts += _int(cs.get("restartCount"))
            sidecar_last = _later(sidecar_last, _finished(cs))
        terminated = _map(cs, "state").get("terminated")
        waiting = _map(cs, "state", "waiting")
        if isinstance(terminated, Mapping) and _int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and cs.get("started") is True:
            ready += cs.get("ready") is True
            continue
        if isinstance(terminated, Mapping):
            reason = "Init:" + _exit_reason(terminated)
        elif _str(waiting.get("reason")) not in ("", "PodInitializing"):
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break  # the first unfinished init container decides

    initialized = _condition(conditions, "Initialized")
    if not initializing or (initialized is not None and initialized.get("status") == "True"):
        restarts, last = sidecar_restarts, sidecar_last
        has_running = False
        # Backwards, so that the first container's state is the one reported.
        for cs in reversed(_maps(status, "containerStatuses")):
            restarts += _int(cs.get("restartCount"))
            last = _later(last, _finished(cs))
            state = _map(cs, "state")
            terminated = state.get("terminated")
            if _str(_map(state, "waiting").get("reason")):
                reason = state["waiting"]["reason"]
            elif isinstance(terminated, Mapping):
                reason = _exit_reason(terminated)
            elif cs.get("ready") is True and isinstance(state.get("running"), Mapping):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in conditions
            )
            reason = "Running" if pod_ready else "NotReady"

    if _deleting(pod) and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif _deleting(pod) and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last is not None:
        restarts_text += f" ({human_duration((_aware(now) - last).total_seconds())} ago)"

    # v1 -> internal conversion makes podIP authoritative over podIPs[0].
    ips = _maps(status, "podIPs")
    pod_ip = _str(status.get("podIP")) or (_str(ips[0].get("ip")) if ips else "")
    gates = _maps(spec, "readinessGates")
    readiness = "<none>"
    if gates:
        met = 0
        for gate in gates:
            cond = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
            met += cond is not None and cond.get("status") == "True"
        readiness = f"{met}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        age(pod, now),
        pod_ip or "<none>",
        _str(spec.get("nodeName")) or "<none>",
        _str(status.get("nominatedNodeName")) or "<none>",
        readiness,
    ]


@register(
    "",
    "podtemplates",
    NAME,
    _c("Containers", "Names of each container in the template."),
    _c("Images", "Images referenced by each container in the template."),
    _c("Pod Labels", "The labels for the pod template."),
)
def _pod_template(obj: Obj, now: dt.datetime) -> list[Any]:
    template = _map(obj, "template")
    labels = _map(template, "metadata").get("labels")
    return [_name(obj), *_containers(_map(template, "spec")), format_labels(labels)]


@register(
    "apps",
    "deployments",
    NAME,
    _c("Ready", "Number of the pod with ready state"),
    _c("Up-to-date", ("apps.v1.DeploymentStatus", "updatedReplicas")),
    _c("Available", ("apps.v1.DeploymentStatus", "availableReplicas")),
    AGE,
    CONTAINERS,
    IMAGES,
    _w("Selector", ("apps.v1.DeploymentSpec", "selector")),
)
def _deployment(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    selector = selector_string(spec.get("selector"))
    return [
        _name(obj),
        f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}",
        _int(status.get("updatedReplicas")),
        _int(status.get("availableReplicas")),
        age(obj, now),
        *_containers(_map(spec, "template", "spec")),
        "<invalid>" if selector is None else selector,
    ]


def _replicas_printer(group: str, resource: str, api: str) -> None:
    """ReplicaSets and ReplicationControllers print alike."""

    @register(
        group,
        resource,
        NAME,
        _c("Desired", (f"{api}Spec", "replicas"), "integer"),
        _c("Current", (f"{api}Status", "replicas"), "integer"),
        _c("Ready", (f"{api}Status", "readyReplicas"), "integer"),
        AGE,
        CONTAINERS,
        IMAGES,
        _w("Selector", (f"{api}Spec", "selector")),
    )
    def cells(obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = _map(obj, "spec"), _map(obj, "status")
        selector = spec.get("selector")
        return [
            _name(obj),
            _int(spec.get("replicas"), 1),
            _int(status.get("replicas")),
            _int(status.get("readyReplicas")),
            age(obj, now),
            *_containers(_map(spec, "template", "spec")),
            format_selector(selector) if group else format_labels(selector),
        ]


_replicas_printer("apps", "replicasets", "apps.v1.ReplicaSet")
_replicas_printer("", "replicationcontrollers", "core.v1.ReplicationController")


@register(
    "apps",
    "statefulsets",
    NAME,
    _c("Ready", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
)
def _stateful_set(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    ready = f"{_int(status.get('readyReplicas'))}/{_int(spec.get('replicas'), 1)}"
    return [_name(obj), ready, age(obj, now), *_containers(_map(spec, "template", "spec"))]


_DS = "apps.v1.DaemonSetStatus"
_DS_COUNTS = (
    "desiredNumberScheduled",
    "currentNumberScheduled",
    "numberReady",
    "updatedNumberScheduled",
    "numberAvailable",
)


@register(
    "apps",
    "daemonsets",
    NAME,
    _c("Desired", (_DS, "desiredNumberScheduled"), "integer"),
    _c("Current", (_DS, "currentNumberScheduled"), "integer"),
    _c("Ready", (_DS, "numberReady"), "integer"),
    _c("Up-to-date", (_DS, "updatedNumberScheduled"), "integer"),
    _c("Available", (_DS, "numberAvailable"), "integer"),
    _c("Node Selector", ("core.v1.PodSpec", "nodeSelector")),
    AGE,
    CONTAINERS,
    IMAGES,
    _w("Selector", ("apps.v1.DaemonSetSpec", "selector")),
)
def _daemon_set(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    pod_spec = _map(spec, "template", "spec")
    return [
        _name(obj),
        *(_int(status.get(key)) for key in _DS_COUNTS),
        format_labels(pod_spec.get("nodeSelector")),
        age(obj, now),
        *_containers(pod_spec),
        format_selector(spec.get("selector")),
    ]


def _job_condition(status: Obj, ctype: str) -> bool:
    cond = _condition(_maps(status, "conditions"), ctype)
    return cond is not None and cond.get("status") == "True"


@register(
    "batch",
    "jobs",
    NAME,
    _c("Status", "Status of the job."),
    _c("Completions", ("batch.v1.JobStatus", "succeeded")),
    _c("Duration", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    _w("Selector", ("batch.v1.JobSpec", "selector")),
)
def _job(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    succeeded = _int(status.get("succeeded"))
    parallelism = _int(spec.get("parallelism"))
    wanted = spec.get("completions")
    if isinstance(wanted, int) and not isinstance(wanted, bool):  # null: "until one succeeds"
        completions = f"{succeeded}/{wanted}"
    elif parallelism > 1:
        completions = f"{succeeded}/1 of {parallelism}"
    else:
        completions = f"{succeeded}/1"
    start = parse_time(status.get("startTime"))
    end = parse_time(status.get("completionTime")) or _aware(now)
    duration = "" if start is None else human_duration((end - start).total_seconds())
    if _job_condition(status, "Complete"):
        state = "Complete"
    elif _job_condition(status, "Failed"):
        state = "Failed"
    elif _deleting(obj):
        state = "Terminating"
    elif _job_condition(status, "Suspended"):
        state = "Suspended"
    elif _job_condition(status, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    return [
        _name(obj),
        state,
        completions,
        duration,
        age(obj, now),
        *_containers(_map(spec, "template", "spec")),
        format_selector(spec.get("selector")),
    ]


_CJ = "batch.v1.CronJob"


@register(
    "batch",
    "cronjobs",
    NAME,
    _c("Schedule", (f"{_CJ}Spec", "schedule")),
    _c("Timezone", (f"{_CJ}Spec", "timeZone")),
    _c("Suspend", (f"{_CJ}Spec", "suspend"), "boolean"),
    _c("Active", (f"{_CJ}Status", "active"), "integer"),
    _c("Last Schedule", (f"{_CJ}Status", "lastScheduleTime")),
    AGE,
    CONTAINERS,
    IMAGES,
    _w("Selector", ("batch.v1.JobSpec", "selector")),
)
def _cron_job(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    job_spec = _map(spec, "jobTemplate", "spec")
    last = status.get("lastScheduleTime")
    suspend = spec.get("suspend", False)  # defaulted to false by the v1 API
    return [
        _name(obj),
        _str(spec.get("schedule")),
        _str(spec.get("timeZone"), "<none>"),
        ("True" if suspend else "False") if isinstance(suspend, bool) else "<unset>",
        len(_list(status, "active")),
        "<none>" if last is None else since(last, now),
        age(obj, now),
        *_containers(_map(job_spec, "template", "spec")),
        format_selector(job_spec.get("selector")),
    ]


def _hpa_value(value: Any) -> str:
    # A nil *resource.Quantity prints "<nil>".
    return "<nil>" if value is None else _quantity(value)


def _hpa_metric(spec: Obj, status: Obj | None) -> str:
    kind = spec.get("type")
    key = {"External": "external", "Pods": "pods", "Object": "object"}.get(_str(kind))
    key = key or {"Resource": "resource", "ContainerResource": "containerResource"}.get(_str(kind))
    if key is None:
        return "<unknown type>"
    target = _map(spec, key, "target")
    current_of = _map(status, key, "current") if status is not None else None
    has_status = status is not None and isinstance(status.get(key), Mapping)
    if key == "pods":
        current = _hpa_value(_map(current_of).get("averageValue")) if has_status else "<unknown>"
        return f"{current}/{_hpa_value(target.get('averageValue'))}"
    prefix = (
        f"{_str(_map(spec, key).get('name'))}: " if key in ("resource", "containerResource") else ""
    )
    if target.get("averageValue") is not None:
        current = "<unknown>"
        avg = _map(current_of).get("averageValue")
        if has_status and (prefix or avg is not None):
            current = _hpa_value(avg)
        suffix = "" if prefix else " (avg)"
        return f"{prefix}{current}/{_hpa_value(target['averageValue'])}{suffix}"
    if prefix:
        util = _map(current_of).get("averageUtilization")
        current = f"{util}%" if has_status and isinstance(util, int) else "<unknown>"
        wanted = target.get("averageUtilization")
        return f"{prefix}{current}/{f'{wanted}%' if isinstance(wanted, int) else '<auto>'}"
    current = _hpa_value(_map(current_of).get("value")) if has_status else "<unknown>"
    return f"{current}/{_hpa_value(target.get('value'))}"


_HPA = "autoscaling.v2.HorizontalPodAutoscaler"


@register(
    "autoscaling",
    "horizontalpodautoscalers",
    NAME,
    _c("Reference", (f"{_HPA}Spec", "scaleTargetRef")),
    _c("Targets", (f"{_HPA}Spec", "metrics")),
    _c("MinPods", (f"{_HPA}Spec", "minReplicas")),
    _c("MaxPods", (f"{_HPA}Spec", "maxReplicas")),
    _c("Replicas", (f"{_HPA}Status", "currentReplicas")),
    AGE,
)
def _hpa(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    ref = _map(spec, "scaleTargetRef")
    specs, statuses = _maps(spec, "metrics"), _maps(status, "currentMetrics")
    metrics = [
        _hpa_metric(m, statuses[i] if i < len(statuses) else None) for i, m in enumerate(specs)
    ]
    targets = ", ".join(metrics[:2]) + (
        f" + {len(metrics) - 2} more..." if len(metrics) > 2 else ""
    )
    min_pods = spec.get("minReplicas")
    return [
        _name(obj),
        f"{_str(ref.get('kind'))}/{_str(ref.get('name'))}",
        targets or "<none>",
        str(min_pods) if isinstance(min_pods, int) else "<unset>",
        _int(spec.get("maxReplicas")),
        _int(status.get("currentReplicas")),
        age(obj, now),
    ]


@register(
    "policy",
    "poddisruptionbudgets",
    NAME,
    _c("Min Available", "The minimum number of pods that must be available."),
    _c("Max Unavailable", "The maximum number of pods that may be unavailable."),
    _c(
        "Allowed Disruptions",
        "Calculated number of pods that may be disrupted at this time.",
        "integer",
    ),
    AGE,
)
def _pdb(obj: Obj, now: dt.datetime) -> list[Any]:
    spec = _map(obj, "spec")
    return [
        _name(obj),
        _int_or_string(spec.get("minAvailable")) or "N/A",
        _int_or_string(spec.get("maxUnavailable")) or "N/A",
        _int(_map(obj, "status").get("disruptionsAllowed")),
        age(obj, now),
    ]


def _controller_name(obj: Obj) -> str:
    owner = next(
        (o for o in _maps(obj, "metadata", "ownerReferences") if o.get("controller") is True), None
    )
    if owner is None:
        return "<none>"
    api_version, kind, name = (_str(owner.get(k)) for k in ("apiVersion", "kind", "name"))
    group = api_version.split("/")[0] if "/" in api_version else ""
    if not group and not kind:
        return name
    group_kind = f"{kind}.{group}" if group else kind
    return f"{group_kind.lower()}/{name}"


@register(
    "apps",
    "controllerrevisions",
    NAME,
    _c("Controller", "Controller of the object"),
    _c("Revision", ("apps.v1.ControllerRevision", "revision")),
    AGE,
)
def _controller_revision(obj: Obj, now: dt.datetime) -> list[Any]:
    return [_name(obj), _controller_name(obj), _int(obj.get("revision")), age(obj, now)]


# -- core, networking and cluster resources ------------------------------------------------


def _simple(group: str, resource: str, column: Column, cell: Callable[[Obj], Any]) -> None:
    """Register a ``Name, <one column>, Age`` printer."""
    register(group, resource, NAME, column, AGE)(lambda o, now: [_name(o), cell(o), age(o, now)])


_simple(
    "",
    "configmaps",
    _c("Data", ("core.v1.ConfigMap", "data")),
    lambda o: len(_map(o, "data")) + len(_map(o, "binaryData")),
)
_simple(
    "",
    "namespaces",
    _c("Status", "The status of the namespace"),
    lambda o: _str(_map(o, "status").get("phase")),
)
_simple(
    "",
    "serviceaccounts",
    _c("Secrets", ("core.v1.ServiceAccount", "secrets")),
    lambda o: len(_list(o, "secrets")),
)
_simple(
    "",
    "endpoints",
    _c("Endpoints", ("core.v1.Endpoints", "subsets")),
    lambda o: _format_endpoints(o),
)
_simple(
    "coordination.k8s.io",
    "leases",
    _c("Holder", ("coordination.v1.LeaseSpec", "holderIdentity")),
    lambda o: _str(_map(o, "spec").get("holderIdentity")),
)
_simple(
    "networking.k8s.io",
    "networkpolicies",
    _c("Pod-Selector", ("networking.v1.NetworkPolicySpec", "podSelector")),
    lambda o: format_selector(_map(o, "spec").get("podSelector")),
)
for _webhooks in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
    _simple(
        "admissionregistration.k8s.io",
        _webhooks,
        _c(
            "Webhooks",
            "Webhooks indicates the number of webhooks registered in this configuration",
            "integer",
        ),
        lambda o: len(_list(o, "webhooks")),
    )


@register(
    "",
    "secrets",
    NAME,
    _c("Type", ("core.v1.Secret", "type")),
    _c("Data", ("core.v1.Secret", "data")),
    AGE,
)
def _secret(obj: Obj, now: dt.datetime) -> list[Any]:
    return [_name(obj), _str(obj.get("type"), "Opaque"), len(_map(obj, "data")), age(obj, now)]


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _with_more(items: list[str], count: int, limit: int = 3, empty: str = "<unset>") -> str:
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or empty


def _format_endpoints(obj: Obj) -> str:
    subsets = _maps(obj, "subsets")
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [_str(a.get("ip")) for a in _maps(subset, "addresses")]
        ports = _maps(subset, "ports")
        if not ports:  # headless services may have no ports
            count += len(addresses)
            shown += addresses
        for port in ports:
            count += len(addresses)
            shown += [_host_port(ip, _int(port.get("port"))) for ip in addresses]
    return _with_more(shown, count, empty="")


@register(
    "discovery.k8s.io",
    "endpointslices",
    NAME,
    _c("AddressType", ("discovery.v1.EndpointSlice", "addressType")),
    _c("Ports", ("discovery.v1.EndpointSlice", "ports")),
    _c("Endpoints", ("discovery.v1.EndpointSlice", "endpoints")),
    AGE,
)
def _endpoint_slice(obj: Obj, now: dt.datetime) -> list[Any]:
    ports = [
        str(p["port"]) if isinstance(p.get("port"), int) else _str(p.get("name"), "*")
        for p in _maps(obj, "ports")
    ]
    addresses = [a for e in _maps(obj, "endpoints") for a in _list(e, "addresses")]
    return [
        _name(obj),
        _str(obj.get("addressType")),
        _with_more(ports, len(ports)),
        _with_more([str(a) for a in addresses], len(addresses)),
        age(obj, now),
    ]


def _load_balancer(status: Obj) -> str:
    ingress = _maps(status, "loadBalancer", "ingress")
    found = {_str(i.get("ip")) or _str(i.get("hostname")) for i in ingress} - {""}
    return ",".join(sorted(found))  # wide output: never truncated server-side


def _external_ip(spec: Obj, status: Obj) -> str:
    kind = _str(spec.get("type"), "ClusterIP")
    external = [str(ip) for ip in _list(spec, "externalIPs")]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        balancers = _load_balancer(status)
        if external:
            return ",".join(([balancers] if balancers else []) + external)
        return balancers or "<pending>"
    if kind == "ExternalName":
        return _str(spec.get("externalName"))
    return "<unknown>"


_SVC = ("core.v1.ServiceSpec",)


@register(
    "",
    "services",
    NAME,
    _c("Type", (*_SVC, "type")),
    _c("Cluster-IP", (*_SVC, "clusterIP")),
    _c("External-IP", (*_SVC, "externalIPs")),
    _c("Port(s)", (*_SVC, "ports")),
    AGE,
    _w("Selector", (*_SVC, "selector")),
)
def _service(obj: Obj, now: dt.datetime) -> list[Any]:
    spec = _map(obj, "spec")
    cluster_ips = _list(spec, "clusterIPs")
    cluster_ip = _str(spec.get("clusterIP")) or (_str(cluster_ips[0]) if cluster_ips else "")
    ports = []
    for port in _maps(spec, "ports"):
        node_port, protocol = _int(port.get("nodePort")), _str(port.get("protocol"), "TCP")
        middle = f":{node_port}" if node_port > 0 else ""
        ports.append(f"{_int(port.get('port'))}{middle}/{protocol}")
    return [
        _name(obj),
        _str(spec.get("type"), "ClusterIP"),
        cluster_ip or "<none>",
        _external_ip(spec, _map(obj, "status")),
        ",".join(ports) or "<none>",
        age(obj, now),
        format_labels(spec.get("selector")),
    ]


@register(
    "networking.k8s.io",
    "ingresses",
    NAME,
    _c(
        "Class",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    _c("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
    _c("Address", "Address is a list containing ingress points for the load-balancer"),
    _c("Ports", "Ports of TLS configurations that open"),
    AGE,
)
def _ingress(obj: Obj, now: dt.datetime) -> list[Any]:
    spec = _map(obj, "spec")
    rules = _maps(spec, "rules")
    hosts: list[str] = []
    more = False
    for rule in rules:  # up to three named hosts; "more" once a fourth rule follows
        more = more or len(hosts) == 3
        if not more and _str(rule.get("host")):
            hosts.append(rule["host"])
    shown = ",".join(hosts) + (f" + {len(rules) - 3} more..." if more else "")
    return [
        _name(obj),
        _str(spec.get("ingressClassName"), "<none>"),
        shown if hosts else "*",
        _load_balancer(_map(obj, "status")),
        "80, 443" if _list(spec, "tls") else "80",
        age(obj, now),
    ]


@register(
    "networking.k8s.io",
    "ingressclasses",
    NAME,
    _c("Controller", "Controller that is responsible for handling this class"),
    _c("Parameters", "A reference to a resource with additional parameters"),
    AGE,
)
def _ingress_class(obj: Obj, now: dt.datetime) -> list[Any]:
    spec = _map(obj, "spec")
    params = spec.get("parameters")
    shown = "<none>"
    if isinstance(params, Mapping):
        group = params.get("apiGroup")
        kind = _str(params.get("kind")) + (f".{group}" if isinstance(group, str) else "")
        shown = f"{kind}/{_str(params.get('name'))}"
    return [_name(obj), _str(spec.get("controller")), shown, age(obj, now)]


_NODE_INFO = "core.v1.NodeSystemInfo"


@register(
    "",
    "nodes",
    NAME,
    _c("Status", "The status of the node"),
    _c("Roles", "The roles of the node"),
    AGE,
    _c("Version", (_NODE_INFO, "kubeletVersion")),
    _w("Internal-IP", ("core.v1.NodeStatus", "addresses")),
    _w("External-IP", ("core.v1.NodeStatus", "addresses")),
    _w("OS-Image", (_NODE_INFO, "osImage")),
    _w("Kernel-Version", (_NODE_INFO, "kernelVersion")),
    _w("Container-Runtime", (_NODE_INFO, "containerRuntimeVersion")),
)
def _node(obj: Obj, now: dt.datetime) -> list[Any]:
    status = _map(obj, "status")
    info = _map(status, "nodeInfo")
    # The last condition of a type wins, as in upstream's condition map.
    ready = {c.get("type"): c for c in _maps(status, "conditions")}.get("Ready")
    states = [
        "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    ]
    if _map(obj, "spec").get("unschedulable") is True:
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in _map(obj, "metadata", "labels").items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    addresses = _maps(status, "addresses")

    def address(kind: str) -> str:
        return next((_str(a.get("address")) for a in addresses if a.get("type") == kind), "<none>")

    return [
        _name(obj),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        age(obj, now),
        _str(info.get("kubeletVersion")),
        address("InternalIP"),
        address("ExternalIP"),
        *(
            _str(info.get(k)) or "<unknown>"
            for k in ("osImage", "kernelVersion", "containerRuntimeVersion")
        ),
    ]


_EVENT = "core.v1.Event"
_EVENT_COLUMNS = (
    _c("Last Seen", (_EVENT, "lastTimestamp")),
    _c("Type", (_EVENT, "type")),
    _c("Reason", (_EVENT, "reason")),
    _c("Object", (_EVENT, "involvedObject")),
    _w("Subobject", ("core.v1.ObjectReference", "fieldPath")),
    _w("Source", (_EVENT, "source")),
    _c("Message", (_EVENT, "message")),
    _w("First Seen", (_EVENT, "firstTimestamp")),
    _w("Count", (_EVENT, "count")),
    Column("Name", (_META, "name"), priority=1, format="name"),
)


@register("", "events", *_EVENT_COLUMNS)
def _event(obj: Obj, now: dt.datetime) -> list[Any]:
    first = since(obj.get("firstTimestamp"), now)
    if parse_time(obj.get("firstTimestamp")) is None:
        first = since(obj.get("eventTime"), now)
    last = since(obj.get("lastTimestamp"), now)
    if parse_time(obj.get("lastTimestamp")) is None:
        last = first
    count = _int(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, Mapping):
        last, count = since(series.get("lastObservedTime"), now), _int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = _map(obj, "involvedObject")
    target = _str(involved.get("kind")).lower()
    if _str(involved.get("name")):
        target += "/" + _str(involved["name"])
    source = _map(obj, "source")
    component = _str(source.get("component")) or _str(obj.get("reportingComponent"))
    instance = _str(source.get("host")) or _str(obj.get("reportingInstance"))
    return [
        last,
        _str(obj.get("type")),
        _str(obj.get("reason")),
        target,
        _str(involved.get("fieldPath")),
        f"{component}, {instance}" if instance else component,
        _str(obj.get("message")).strip(),
        first,
        count,
        _name(obj),
    ]


@register("events.k8s.io", "events", *_EVENT_COLUMNS)
def _events_v1(obj: Obj, now: dt.datetime) -> list[Any]:
    # events.k8s.io/v1 is the same storage; upstream converts to the core shape to print.
    renamed = {
        "regarding": "involvedObject",
        "note": "message",
        "deprecatedSource": "source",
        "deprecatedFirstTimestamp": "firstTimestamp",
        "deprecatedLastTimestamp": "lastTimestamp",
        "deprecatedCount": "count",
        "reportingController": "reportingComponent",
    }
    return _event({renamed.get(k, k): v for k, v in obj.items()}, now)


def _access_modes(modes: list[Any]) -> str:
    short = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX"}
    short["ReadWriteOncePod"] = "RWOP"
    return ",".join(abbr for mode, abbr in short.items() if mode in modes)


def _storage_class(obj: Obj) -> str:
    beta = _map(obj, "metadata", "annotations").get("volume.beta.kubernetes.io/storage-class")
    return beta if isinstance(beta, str) else _str(_map(obj, "spec").get("storageClassName"))


_PV = "core.v1.PersistentVolume"


@register(
    "",
    "persistentvolumes",
    NAME,
    _c("Capacity", (f"{_PV}Spec", "capacity")),
    _c("Access Modes", (f"{_PV}Spec", "accessModes")),
    _c("Reclaim Policy", (f"{_PV}Spec", "persistentVolumeReclaimPolicy")),
    _c("Status", (f"{_PV}Status", "phase")),
    _c("Claim", (f"{_PV}Spec", "claimRef")),
    _c("StorageClass", "StorageClass of the pv"),
    _c("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
    _c("Reason", (f"{_PV}Status", "reason")),
    AGE,
    _w("VolumeMode", (f"{_PV}Spec", "volumeMode")),
)
def _persistent_volume(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    claim = spec.get("claimRef")
    claim_text = ""
    if isinstance(claim, Mapping):
        claim_text = f"{_str(claim.get('namespace'))}/{_str(claim.get('name'))}"
    return [
        _name(obj),
        _quantity(_map(spec, "capacity").get("storage")),
        _access_modes(_list(spec, "accessModes")),
        _str(spec.get("persistentVolumeReclaimPolicy")),
        "Terminating" if _deleting(obj) else _str(status.get("phase")),
        claim_text,
        _storage_class(obj),
        _str(spec.get("volumeAttributesClassName"), "<unset>"),
        _str(status.get("reason")),
        age(obj, now),
        _str(spec.get("volumeMode"), "<unset>"),
    ]


_PVC = "core.v1.PersistentVolumeClaim"


@register(
    "",
    "persistentvolumeclaims",
    NAME,
    _c("Status", (f"{_PVC}Status", "phase")),
    _c("Volume", (f"{_PVC}Spec", "volumeName")),
    _c("Capacity", (f"{_PVC}Status", "capacity")),
    _c("Access Modes", (f"{_PVC}Status", "accessModes")),
    _c("StorageClass", "StorageClass of the pvc"),
    _c("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
    AGE,
    _w("VolumeMode", (f"{_PVC}Spec", "volumeMode")),
)
def _persistent_volume_claim(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = _map(obj, "spec"), _map(obj, "status")
    volume = _str(spec.get("volumeName"))
    bound = bool(volume)  # capacity and modes show once the claim names its volume
    return [
        _name(obj),
        "Terminating" if _deleting(obj) else _str(status.get("phase")),
        volume,
        _quantity(_map(status, "capacity").get("storage")) if bound else "",
        _access_modes(_list(status, "accessModes")) if bound else "",
        _storage_class(obj),
        _str(spec.get("volumeAttributesClassName"), "<unset>"),
        age(obj, now),
        _str(spec.get("volumeMode"), "<unset>"),
    ]


_SC = "storage.v1.StorageClass"


@register(
    "storage.k8s.io",
    "storageclasses",
    NAME,
    _c("Provisioner", (_SC, "provisioner")),
    _c("ReclaimPolicy", (_SC, "reclaimPolicy")),
    _c("VolumeBindingMode", (_SC, "volumeBindingMode")),
    _c("AllowVolumeExpansion", (_SC, "allowVolumeExpansion")),
    AGE,
)
def _storage_class_row(obj: Obj, now: dt.datetime) -> list[Any]:
    annotations = _map(obj, "metadata", "annotations")
    default = any(
        annotations.get(f"storageclass.{beta}kubernetes.io/is-default-class") == "true"
        for beta in ("", "beta.")
    )
    expansion = obj.get("allowVolumeExpansion")
    return [
        _name(obj) + (" (default)" if default else ""),
        _str(obj.get("provisioner")),
        _str(obj.get("reclaimPolicy"), "Delete"),
        _str(obj.get("volumeBindingMode"), "Immediate"),
        expansion if isinstance(expansion, bool) else False,
        age(obj, now),
    ]


def _binding_printer(resource: str, definition: str) -> None:
    noun = "roleBinding" if resource == "rolebindings" else "clusterRoleBinding"

    @register(
        "rbac.authorization.k8s.io",
        resource,
        NAME,
        _c("Role", (definition, "roleRef")),
        AGE,
        _w("Users", f"Users in the {noun}"),
        _w("Groups", f"Groups in the {noun}"),
        _w("ServiceAccounts", f"ServiceAccounts in the {noun}"),
    )
    def cells(obj: Obj, now: dt.datetime) -> list[Any]:
        ref = _map(obj, "roleRef")
        kinds: dict[str, list[str]] = {"User": [], "Group": [], "ServiceAccount": []}
        for subject in _maps(obj, "subjects"):
            kind, name = _str(subject.get("kind")), _str(subject.get("name"))
            if kind == "ServiceAccount":
                name = f"{_str(subject.get('namespace'))}/{name}"
            kinds.get(kind, []).append(name)
        role = f"{_str(ref.get('kind'))}/{_str(ref.get('name'))}"
        return [_name(obj), role, age(obj, now), *(", ".join(v) for v in kinds.values())]


_binding_printer("rolebindings", "rbac.v1.RoleBinding")
_binding_printer("clusterrolebindings", "rbac.v1.ClusterRoleBinding")


_PC = "scheduling.v1.PriorityClass"


@register(
    "scheduling.k8s.io",
    "priorityclasses",
    NAME,
    _c("Value", (_PC, "value"), "integer"),
    _c("Global-Default", (_PC, "globalDefault"), "boolean"),
    AGE,
    _w("PreemptionPolicy", (_PC, "preemptionPolicy")),
)
def _priority_class(obj: Obj, now: dt.datetime) -> list[Any]:
    default = obj.get("globalDefault")
    return [
        _name(obj),
        _int(obj.get("value")),
        default if isinstance(default, bool) else False,
        age(obj, now),
        _str(obj.get("preemptionPolicy")),
    ]


@register(
    "apiregistration.k8s.io",
    "apiservices",
    NAME,
    _c("Service", "The reference to the service that hosts this API endpoint."),
    _c("Available", "Whether this service is available."),
    AGE,
)
def _api_service(obj: Obj, now: dt.datetime) -> list[Any]:
    # kube-aggregator's own convertor, not printers.go; same shape.
    service = _map(obj, "spec").get("service")
    where = "Local"
    if isinstance(service, Mapping):
        where = f"{_str(service.get('namespace'))}/{_str(service.get('name'))}"
    cond = _condition(_maps(obj, "status", "conditions"), "Available")
    available = "Unknown"
    if cond is not None:
        available = _str(cond.get("status"))
        if available != "True" and _str(cond.get("reason")):
            available = f"{available} ({cond['reason']})"
    return [_name(obj), where, available, age(obj, now)]
