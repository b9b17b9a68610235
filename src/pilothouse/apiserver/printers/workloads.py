"""Printers of workload controllers: pod templates, Deployments, ReplicaSets,
ReplicationControllers, StatefulSets, DaemonSets and ControllerRevisions.

Design choice: where upstream relies on v1 defaulting having filled ``replicas`` the printer
assumes the default (1), so an object the real server would have defaulted prints the same.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pilothouse.apiserver.printers.format import (
    age,
    format_containers,
    format_labels,
    format_selector,
    selector_string,
)
from pilothouse.apiserver.printers.reading import Obj, as_int, as_str, map_at, maps_at, name_of
from pilothouse.apiserver.printers.registry import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    column,
    register,
    wide,
)


@register(
    "",
    "podtemplates",
    NAME,
    column("Containers", "Names of each container in the template."),
    column("Images", "Images referenced by each container in the template."),
    column("Pod Labels", "The labels for the pod template."),
)
def _pod_template(obj: Obj, now: dt.datetime) -> list[Any]:
    template = map_at(obj, "template")
    labels = map_at(template, "metadata").get("labels")
    return [name_of(obj), *format_containers(map_at(template, "spec")), format_labels(labels)]


def _ready_of_wanted(spec: Obj, status: Obj) -> str:
    """The ``Ready`` cell of Deployments and StatefulSets: ready of wanted replicas."""
    return f"{as_int(status.get('readyReplicas'))}/{as_int(spec.get('replicas'), 1)}"


@register(
    "apps",
    "deployments",
    NAME,
    column("Ready", "Number of the pod with ready state"),
    column("Up-to-date", ("apps.v1.DeploymentStatus", "updatedReplicas")),
    column("Available", ("apps.v1.DeploymentStatus", "availableReplicas")),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", ("apps.v1.DeploymentSpec", "selector")),
)
def _deployment(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(obj, "spec"), map_at(obj, "status")
    selector = selector_string(spec.get("selector"))
    return [
        name_of(obj),
        _ready_of_wanted(spec, status),
        as_int(status.get("updatedReplicas")),
        as_int(status.get("availableReplicas")),
        age(obj, now),
        *format_containers(map_at(spec, "template", "spec")),
        "<invalid>" if selector is None else selector,
    ]


def _replicas_printer(group: str, resource: str, api: str) -> None:
    """ReplicaSets and ReplicationControllers print alike."""

    @register(
        group,
        resource,
        NAME,
        column("Desired", (f"{api}Spec", "replicas"), "integer"),
        column("Current", (f"{api}Status", "replicas"), "integer"),
        column("Ready", (f"{api}Status", "readyReplicas"), "integer"),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", (f"{api}Spec", "selector")),
    )
    def cells(obj: Obj, now: dt.datetime) -> list[Any]:
        spec, status = map_at(obj, "spec"), map_at(obj, "status")
        selector = spec.get("selector")
        return [
            name_of(obj),
            as_int(spec.get("replicas"), 1),
            as_int(status.get("replicas")),
            as_int(status.get("readyReplicas")),
            age(obj, now),
            *format_containers(map_at(spec, "template", "spec")),
            format_selector(selector) if group else format_labels(selector),
        ]


_replicas_printer("apps", "replicasets", "apps.v1.ReplicaSet")
_replicas_printer("", "replicationcontrollers", "core.v1.ReplicationController")


@register(
    "apps",
    "statefulsets",
    NAME,
    column("Ready", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
)
def _stateful_set(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(obj, "spec"), map_at(obj, "status")
    return [
        name_of(obj),
        _ready_of_wanted(spec, status),
        age(obj, now),
        *format_containers(map_at(spec, "template", "spec")),
    ]


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
    column("Desired", (_DS, "desiredNumberScheduled"), "integer"),
    column("Current", (_DS, "currentNumberScheduled"), "integer"),
    column("Ready", (_DS, "numberReady"), "integer"),
    column("Up-to-date", (_DS, "updatedNumberScheduled"), "integer"),
    column("Available", (_DS, "numberAvailable"), "integer"),
    column("Node Selector", ("core.v1.PodSpec", "nodeSelector")),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", ("apps.v1.DaemonSetSpec", "selector")),
)
def _daemon_set(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(obj, "spec"), map_at(obj, "status")
    pod_spec = map_at(spec, "template", "spec")
    return [
        name_of(obj),
        *(as_int(status.get(key)) for key in _DS_COUNTS),
        format_labels(pod_spec.get("nodeSelector")),
        age(obj, now),
        *format_containers(pod_spec),
        format_selector(spec.get("selector")),
    ]


def _controller_name(obj: Obj) -> str:
    owner = next(
        (o for o in maps_at(obj, "metadata", "ownerReferences") if o.get("controller") is True),
        None,
    )
    if owner is None:
        return "<none>"
    api_version, kind, name = (as_str(owner.get(k)) for k in ("apiVersion", "kind", "name"))
    group = api_version.split("/")[0] if "/" in api_version else ""
    if not group and not kind:
        return name
    group_kind = f"{kind}.{group}" if group else kind
    return f"{group_kind.lower()}/{name}"


@register(
    "apps",
    "controllerrevisions",
    NAME,
    column("Controller", "Controller of the object"),
    column("Revision", ("apps.v1.ControllerRevision", "revision")),
    AGE,
)
def _controller_revision(obj: Obj, now: dt.datetime) -> list[Any]:
    return [name_of(obj), _controller_name(obj), as_int(obj.get("revision")), age(obj, now)]
