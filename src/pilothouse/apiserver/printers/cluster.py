"""Printers of cluster-level kinds: Nodes, Leases, admission webhook configurations, RBAC
bindings, PriorityClasses and APIServices (kube-aggregator's convertor).

Design choice: a Node's roles come from its ``node-role.kubernetes.io/*`` and
``kubernetes.io/role`` labels, as upstream's ``findNodeRoles``; the last ``Ready`` condition
wins, as upstream's condition map does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.printers.format import age
from pilothouse.apiserver.printers.reading import (
    Obj,
    as_int,
    as_str,
    find_condition,
    list_at,
    map_at,
    maps_at,
    name_of,
    namespaced_name,
)
from pilothouse.apiserver.printers.registry import (
    AGE,
    NAME,
    column,
    register,
    register_simple,
    wide,
)

_NODE_INFO = "core.v1.NodeSystemInfo"


@register(
    "",
    "nodes",
    NAME,
    column("Status", "The status of the node"),
    column("Roles", "The roles of the node"),
    AGE,
    column("Version", (_NODE_INFO, "kubeletVersion")),
    wide("Internal-IP", ("core.v1.NodeStatus", "addresses")),
    wide("External-IP", ("core.v1.NodeStatus", "addresses")),
    wide("OS-Image", (_NODE_INFO, "osImage")),
    wide("Kernel-Version", (_NODE_INFO, "kernelVersion")),
    wide("Container-Runtime", (_NODE_INFO, "containerRuntimeVersion")),
)
def _node(obj: Obj, now: dt.datetime) -> list[Any]:
    status = map_at(obj, "status")
    info = map_at(status, "nodeInfo")
    # The last condition of a type wins, as in upstream's condition map.
    ready = {c.get("type"): c for c in maps_at(status, "conditions")}.get("Ready")
    states = [
        "Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"
    ]
    if map_at(obj, "spec").get("unschedulable") is True:
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in map_at(obj, "metadata", "labels").items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    addresses = maps_at(status, "addresses")

    def address(kind: str) -> str:
        return next(
            (as_str(a.get("address")) for a in addresses if a.get("type") == kind), "<none>"
        )

    return [
        name_of(obj),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        age(obj, now),
        as_str(info.get("kubeletVersion")),
        address("InternalIP"),
        address("ExternalIP"),
        *(
            as_str(info.get(k)) or "<unknown>"
            for k in ("osImage", "kernelVersion", "containerRuntimeVersion")
        ),
    ]


register_simple(
    "coordination.k8s.io",
    "leases",
    column("Holder", ("coordination.v1.LeaseSpec", "holderIdentity")),
    lambda o: as_str(map_at(o, "spec").get("holderIdentity")),
)


for _webhooks in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
    register_simple(
        "admissionregistration.k8s.io",
        _webhooks,
        column(
            "Webhooks",
            "Webhooks indicates the number of webhooks registered in this configuration",
            "integer",
        ),
        lambda o: len(list_at(o, "webhooks")),
    )


def _binding_printer(resource: str, definition: str) -> None:
    noun = "roleBinding" if resource == "rolebindings" else "clusterRoleBinding"

    @register(
        "rbac.authorization.k8s.io",
        resource,
        NAME,
        column("Role", (definition, "roleRef")),
        AGE,
        wide("Users", f"Users in the {noun}"),
        wide("Groups", f"Groups in the {noun}"),
        wide("ServiceAccounts", f"ServiceAccounts in the {noun}"),
    )
    def cells(obj: Obj, now: dt.datetime) -> list[Any]:
        ref = map_at(obj, "roleRef")
        kinds: dict[str, list[str]] = {"User": [], "Group": [], "ServiceAccount": []}
        for subject in maps_at(obj, "subjects"):
            kind, name = as_str(subject.get("kind")), as_str(subject.get("name"))
            if kind == "ServiceAccount":
                name = f"{as_str(subject.get('namespace'))}/{name}"
            kinds.get(kind, []).append(name)
        role = f"{as_str(ref.get('kind'))}/{as_str(ref.get('name'))}"
        return [name_of(obj), role, age(obj, now), *(", ".join(v) for v in kinds.values())]


_binding_printer("rolebindings", "rbac.v1.RoleBinding")
_binding_printer("clusterrolebindings", "rbac.v1.ClusterRoleBinding")


_PC = "scheduling.v1.PriorityClass"


@register(
    "scheduling.k8s.io",
    "priorityclasses",
    NAME,
    column("Value", (_PC, "value"), "integer"),
    column("Global-Default", (_PC, "globalDefault"), "boolean"),
    AGE,
    wide("PreemptionPolicy", (_PC, "preemptionPolicy")),
)
def _priority_class(obj: Obj, now: dt.datetime) -> list[Any]:
    default = obj.get("globalDefault")
    return [
        name_of(obj),
        as_int(obj.get("value")),
        default if isinstance(default, bool) else False,
        age(obj, now),
        as_str(obj.get("preemptionPolicy")),
    ]


@register(
    "apiregistration.k8s.io",
    "apiservices",
    NAME,
    column("Service", "The reference to the service that hosts this API endpoint."),
    column("Available", "Whether this service is available."),
    AGE,
)
def _api_service(obj: Obj, now: dt.datetime) -> list[Any]:
    # kube-aggregator's own convertor, not printers.go; same shape.
    service = map_at(obj, "spec").get("service")
    where = namespaced_name(service) if isinstance(service, Mapping) else "Local"
    cond = find_condition(maps_at(obj, "status", "conditions"), "Available")
    available = "Unknown"
    if cond is not None:
        available = as_str(cond.get("status"))
        if available != "True" and as_str(cond.get("reason")):
            available = f"{available} ({cond['reason']})"
    return [name_of(obj), where, available, age(obj, now)]
