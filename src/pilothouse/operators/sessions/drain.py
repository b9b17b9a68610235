"""The decisions of node operations, as pure functions over plain dicts.

Everything here is free of I/O so it can be tested exhaustively without a cluster:
:func:`plan_drain` decides, for the pods on a node, which to evict, which to wait for,
which to leave alone and which make the drain refuse; :func:`add_taints` and
:func:`remove_taints` compute a node's new taint list; :func:`backoff` says how long to
wait after a disruption budget refused an eviction. The controller
(:mod:`pilothouse.operators.sessions.nodeops`) only performs what these decide.

The rules follow ``kubectl drain`` (``k8s.io/kubectl/pkg/drain/filters.go``):

* **mirror pods** (annotation ``kubernetes.io/config.mirror``) are skipped: they are the
  API server's reflection of static pods, which only the kubelet's manifests control;
* **pods already being deleted** are neither evicted again nor skipped: the drain waits
  for them to be gone;
* **finished pods** (phase Succeeded or Failed) are evicted without the other checks:
  nothing is lost by removing them;
* **DaemonSet pods** are skipped when ``ignoreDaemonSets`` (the DaemonSet would recreate
  them on the node at once), otherwise they make the drain refuse;
* **unmanaged pods** (no controller ownerReference) make the drain refuse unless
  ``force``: nothing would recreate them elsewhere;
* **pods with emptyDir volumes** make the drain refuse unless ``deleteEmptyDirData``:
  their data is lost with them.

As in kubectl, every refusal is collected before anything is decided, so one message
names every pod that stands in the way and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MIRROR_ANNOTATION",
    "DrainPlan",
    "add_taints",
    "backoff",
    "plan_drain",
    "pod_name",
    "progress",
    "refusal_message",
    "remove_taints",
]

Obj = Mapping[str, Any]

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

# Refusal reasons, worded as the option that would lift them (kubectl's messages name the
# flag; ours name the spec field).
UNMANAGED = "not managed by a controller (set drain.force to evict anyway)"
LOCAL_STORAGE = "uses emptyDir volumes (set drain.deleteEmptyDirData to evict anyway)"
DAEMONSET = "managed by a DaemonSet (set drain.ignoreDaemonSets to leave it on the node)"


@dataclass(frozen=True)
class DrainPlan:
    """What to do with each pod of a node."""

    #: Pods to evict now.
    evict: list[Obj] = field(default_factory=list)
    #: Pods being deleted already: wait for them to be gone.
    terminating: list[Obj] = field(default_factory=list)
    #: (pod, why) left on the node on purpose.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: (pod, why) that make the drain refuse.
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def pending(self) -> list[str]:
        """Pods that still have to leave the node, sorted."""
        return sorted(pod_name(p) for p in [*self.evict, *self.terminating])

    @property
    def done(self) -> bool:
        """Nothing left to evict or wait for, and nothing refused."""
        return not (self.evict or self.terminating or self.refused)


def pod_name(pod: Obj) -> str:
    """``namespace/name``: how pods are named in status and messages."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"


def _controller(pod: Obj) -> Mapping[str, Any] | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def plan_drain(
    pods: Iterable[Obj],
    *,
    ignore_daemon_sets: bool = True,
    delete_empty_dir_data: bool = False,
    force: bool = False,
) -> DrainPlan:
    """Classify the pods of a node for a drain (see the module docstring for the rules)."""
    plan = DrainPlan()
    for pod in sorted(pods, key=pod_name):
        name = pod_name(pod)
        meta = pod.get("metadata") or {}
        if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
            plan.skipped.append((name, "mirror pod"))
            continue
        if meta.get("deletionTimestamp"):
            plan.terminating.append(pod)
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            plan.evict.append(pod)
            continue
        controller = _controller(pod)
        if controller is not None and controller.get("kind") == "DaemonSet":
            if ignore_daemon_sets:
                plan.skipped.append((name, "DaemonSet pod"))
            else:
                plan.refused.append((name, DAEMONSET))
            continue
        reasons: list[str] = []
        if controller is None and not force:
            reasons.append(UNMANAGED)
        volumes = (pod.get("spec") or {}).get("volumes") or []
        if not delete_empty_dir_data and any("emptyDir" in v for v in volumes):
            reasons.append(LOCAL_STORAGE)
        if reasons:
            plan.refused.extend((name, why) for why in reasons)
        else:
            plan.evict.append(pod)
    return plan


def refusal_message(node: str, refused: Sequence[tuple[str, str]]) -> str:
    """One message naming every refused pod, grouped by reason."""
    by_reason: dict[str, list[str]] = {}
    for pod, why in refused:
        by_reason.setdefault(why, []).append(pod)
    parts = [f"{', '.join(pods)}: {why}" for why, pods in by_reason.items()]
    return f"cannot drain node {node}: " + "; ".join(parts)


def progress(evicted: Iterable[str], pending: Iterable[str]) -> str:
    """``"3/5 pods evicted"``: evictions accepted over every pod the drain had to move."""
    done = set(evicted)
    total = done | set(pending)
    return f"{len(done)}/{len(total)} pods evicted"


def backoff(retries: int, base: float, maximum: float) -> float:
    """The delay before eviction round ``retries + 1`` after ``retries`` refused rounds:
    ``base`` doubling per round, capped at ``maximum``."""
    if retries <= 0:
        return base
    # The exponent is capped so that a huge retry count cannot overflow the float.
    return min(maximum, base * 2.0 ** min(retries, 64))


def _same_taint(a: Obj, b: Obj) -> bool:
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def add_taints(current: Sequence[Obj], wanted: Sequence[Obj]) -> list[dict[str, Any]]:
    """``current`` with every ``wanted`` taint added, or its value replaced where a taint of
    the same key and effect exists (as ``kubectl taint --overwrite``). Order is kept."""
    out = [dict(t) for t in current]
    for want in wanted:
        new = {"key": want["key"], "effect": want["effect"]}
        if want.get("value"):
            new["value"] = want["value"]
        for i, have in enumerate(out):
            if _same_taint(have, new):
                # Keep fields the node already had (timeAdded on NoExecute taints).
                out[i] = {**{k: v for k, v in have.items() if k != "value"}, **new}
                break
        else:
            out.append(new)
    return out


def remove_taints(current: Sequence[Obj], unwanted: Sequence[Obj]) -> list[dict[str, Any]]:
    """``current`` without the taints matching any of ``unwanted``: by key, and by effect
    where one is given (``kubectl taint key-`` / ``key:effect-``)."""

    def matches(taint: Obj) -> bool:
        return any(
            taint.get("key") == u.get("key") and u.get("effect") in (None, taint.get("effect"))
            for u in unwanted
        )

    return [dict(t) for t in current if not matches(t)]
