"""The Pod printer: ``Ready``, ``Status``, ``Restarts`` as ``kubectl get pods`` shows them.

A port of upstream's ``printPod``, the most involved printer: the status column is derived
from init containers (sidecars included), container states, scheduling gates and deletion,
in upstream's order, because operators read it to tell what their pods are doing.

Design choice: pods that finished (``Succeeded``/``Failed``) carry a ``Completed`` row
condition, as upstream, so ``kubectl get`` can hide them by default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.printers.format import age, aware, human_duration, parse_time
from pilothouse.apiserver.printers.reading import (
    Obj,
    as_int,
    as_str,
    condition_true,
    is_deleting,
    list_at,
    map_at,
    maps_at,
    name_of,
)
from pilothouse.apiserver.printers.registry import AGE, NAME, column, register, wide


def _later(current: dt.datetime | None, candidate: dt.datetime | None) -> dt.datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or current < candidate else current


def _finished(container_status: Obj) -> dt.datetime | None:
    return parse_time(map_at(container_status, "lastState", "terminated").get("finishedAt"))


def _exit_reason(terminated: Obj) -> str:
    reason = as_str(terminated.get("reason"))
    if reason:
        return reason
    signal = as_int(terminated.get("signal"))
    return f"Signal:{signal}" if signal else f"ExitCode:{as_int(terminated.get('exitCode'))}"


def _pod_conditions(pod: Obj) -> list[dict[str, str]]:
    phase = map_at(pod, "status").get("phase")
    if phase not in ("Succeeded", "Failed"):
        return []
    message = "The pod has completed successfully." if phase == "Succeeded" else "The pod failed."
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


@register(
    "",
    "pods",
    NAME,
    column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        "The number of times the containers in this pod have been restarted and when the "
        "last container in this pod has restarted.",
    ),
    AGE,
    wide("IP", ("core.v1.PodStatus", "podIP")),
    wide("Node", ("core.v1.PodSpec", "nodeName")),
    wide("Nominated Node", ("core.v1.PodStatus", "nominatedNodeName")),
    wide("Readiness Gates", ("core.v1.PodSpec", "readinessGates")),
    conditions=_pod_conditions,
)
def _pod(pod: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(pod, "spec"), map_at(pod, "status")
    conditions = maps_at(status, "conditions")
    init_specs = maps_at(spec, "initContainers")
    init_by_name = {c.get("name"): c for c in init_specs}
    restartable = {n for n, c in init_by_name.items() if c.get("restartPolicy") == "Always"}
    total = len(list_at(spec, "containers"))
    total += sum(1 for c in init_specs if c.get("restartPolicy") == "Always")
    phase = as_str(status.get("phase"))
    reason = as_str(status.get("reason")) or phase
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions
    ):
        reason = "SchedulingGated"

    restarts = sidecar_restarts = ready = 0
    last: dt.datetime | None = None
    sidecar_last: dt.datetime | None = None
    initializing = False
    for i, cs in enumerate(maps_at(status, "initContainerStatuses")):
        restarts += as_int(cs.get("restartCount"))
        last = _later(last, _finished(cs))
        is_sidecar = cs.get("name") in restartable
        if is_sidecar:
            sidecar_restarts += as_int(cs.get("restartCount"))
            sidecar_last = _later(sidecar_last, _finished(cs))
        terminated = map_at(cs, "state").get("terminated")
        waiting = map_at(cs, "state", "waiting")
        if isinstance(terminated, Mapping) and as_int(terminated.get("exitCode")) == 0:
            continue
        if is_sidecar and cs.get("started") is True:
            ready += cs.get("ready") is True
            continue
        if isinstance(terminated, Mapping):
            reason = "Init:" + _exit_reason(terminated)
        elif as_str(waiting.get("reason")) not in ("", "PodInitializing"):
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break  # the first unfinished init container decides

    if not initializing or condition_true(conditions, "Initialized"):
        restarts, last = sidecar_restarts, sidecar_last
        has_running = False
        # Backwards, so that the first container's state is the one reported.
        for cs in reversed(maps_at(status, "containerStatuses")):
            restarts += as_int(cs.get("restartCount"))
            last = _later(last, _finished(cs))
            state = map_at(cs, "state")
            terminated = state.get("terminated")
            if as_str(map_at(state, "waiting").get("reason")):
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

    if is_deleting(pod) and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif is_deleting(pod) and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last is not None:
        restarts_text += f" ({human_duration((aware(now) - last).total_seconds())} ago)"

    # v1 -> internal conversion makes podIP authoritative over podIPs[0].
    ips = maps_at(status, "podIPs")
    pod_ip = as_str(status.get("podIP")) or (as_str(ips[0].get("ip")) if ips else "")
    gates = maps_at(spec, "readinessGates")
    readiness = "<none>"
    if gates:
        met = 0
        for gate in gates:
            met += condition_true(conditions, gate.get("conditionType"))
        readiness = f"{met}/{len(gates)}"
    return [
        name_of(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        age(pod, now),
        pod_ip or "<none>",
        as_str(spec.get("nodeName")) or "<none>",
        as_str(status.get("nominatedNodeName")) or "<none>",
        readiness,
    ]
