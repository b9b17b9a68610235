"""A session's phase, derived from what the cluster reports -- never assumed.

:func:`derive` is a pure function from the desired state and the observed children (the
Deployment, the session's pods, the Service, the home claim) to an :class:`Observed`: the
phase, whether the session is ready, a CamelCase reason and a message for humans, and the
pod and node serving it. The controller writes exactly this into status, so the phase a
client reads is what Kubernetes last reported, and a crashed pod shows up as Pending again
instead of staying Running because the controller once saw it ready.

Rules:

* desired **running**: Running when one of the session's pods (not being deleted) is Ready;
  otherwise Pending, with the reason saying what is awaited (the Deployment, a pod, a node,
  the container -- with the kubelet's waiting reason such as ``ImagePullBackOff``).
* desired **hibernated**: Hibernated once the Deployment asks for zero replicas (or is
  gone) *and* no pod is left, terminating ones included; until then the phase stays what it
  was (reason ``Hibernating``), because the session is still consuming its node.
* desired **terminated**: Terminated once the Deployment, the Service and their pods are
  gone, and the home claim too unless it is kept; until then the phase stays (reason
  ``Terminating``).

``Failed`` is not derived here: it is a verdict on the spec (a missing template), made by
the controller before it looks at children.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Observed", "derive", "pod_ready", "storage_status"]

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Observed:
    phase: str
    ready: bool
    reason: str
    message: str = ""
    pod_name: str | None = None
    node_name: str | None = None


def _meta(obj: Obj) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _deleting(obj: Obj) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def pod_ready(pod: Obj) -> bool:
    """Running, Ready and not being deleted."""
    status = pod.get("status") or {}
    if _deleting(pod) or status.get("phase") != "Running":
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or ()
    )


def _waiting_reason(pod: Obj) -> str | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or ():
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
    return None


def _newest_first(pods: Sequence[Obj]) -> list[Obj]:
    return sorted(pods, key=lambda p: str(_meta(p).get("creationTimestamp") or ""), reverse=True)


def _running(deployment: Obj | None, pods: Sequence[Obj]) -> Observed:
    live = _newest_first([p for p in pods if not _deleting(p)])
    for pod in live:
        if pod_ready(pod):
            return Observed(
                "Running",
                True,
                "PodReady",
                "",
                _meta(pod).get("name"),
                (pod.get("spec") or {}).get("nodeName"),
            )
    if deployment is None:
        return Observed("Pending", False, "CreatingWorkload", "waiting for the Deployment")
    if not live:
        return Observed("Pending", False, "WaitingForPod", "waiting for the session's pod")
    pod = live[0]
    name = _meta(pod).get("name")
    node = (pod.get("spec") or {}).get("nodeName")
    if not node:
        return Observed("Pending", False, "PodUnscheduled", f"pod {name} is not scheduled", name)
    waiting = _waiting_reason(pod)
    if waiting:
        return Observed(
            "Pending", False, waiting, f"pod {name} on {node}: container {waiting}", name, node
        )
    return Observed(
        "Pending", False, "PodNotReady", f"pod {name} on {node} is not ready", name, node
    )


def derive(
    desired: str,
    *,
    current_phase: str | None,
    deployment: Obj | None,
    pods: Sequence[Obj],
    service: Obj | None,
    home_claim: Obj | None,
    keep_home: bool,
) -> Observed:
    """The phase the cluster reports for a session whose desired state is ``desired``."""
    previous = current_phase if current_phase in ("Running", "Pending", "Hibernated") else "Pending"
    if desired == "running":
        return _running(deployment, pods)
    if desired == "hibernated":
        replicas = ((deployment or {}).get("spec") or {}).get("replicas", 1)
        if deployment is not None and replicas != 0:
            return Observed(previous, False, "Hibernating", "scaling the session to zero")
        if pods:
            n = len(pods)
            return Observed(previous, False, "Hibernating", f"waiting for {n} pod(s) to stop")
        return Observed("Hibernated", False, "Hibernated", "scaled to zero; home kept")
    if desired == "terminated":
        left = [
            what
            for what, obj in (
                ("Deployment", deployment),
                ("Service", service),
                ("home volume claim", None if keep_home else home_claim),
            )
            if obj is not None
        ]
        if pods:
            left.append(f"{len(pods)} pod(s)")
        if left:
            return Observed(previous, False, "Terminating", "waiting for " + ", ".join(left))
        kept = "; home kept" if keep_home and home_claim is not None else ""
        return Observed("Terminated", False, "Terminated", f"workload released{kept}")
    raise ValueError(f"unknown desired state {desired!r}")


def storage_status(home_enabled: bool, claim: Obj | None) -> tuple[bool | str, str, str]:
    """``StorageReady``'s status, reason and message."""
    if not home_enabled:
        return True, "NoHome", "the session has no persistent home"
    if claim is None:
        return False, "ClaimMissing", "waiting for the home volume claim"
    phase = (claim.get("status") or {}).get("phase") or "Pending"
    if phase == "Bound":
        return True, "Bound", f"claim {_meta(claim).get('name')} is bound"
    return False, f"Claim{phase}", f"claim {_meta(claim).get('name')} is {phase}"
