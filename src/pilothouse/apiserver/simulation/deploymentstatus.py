"""Deployment status, as kube's ``calculateStatus`` and ``syncRolloutStatus`` compute it:
replica counts summed over the Deployment's ReplicaSets, the ``Available`` condition, and
the ``Progressing`` condition with its progress deadline (see :func:`compute`)."""

from __future__ import annotations

import datetime
from typing import Any

from pilothouse.apiserver.printers.format import parse_time

Obj = dict[str, Any]


def replicas(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("replicas", 1) or 0)


def status_count(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field, 0) or 0)


def compute(
    d: Obj,
    new: Obj | None,
    rs_list: list[Obj],
    progressing: tuple[str, str, Obj | None] | None,
    *,
    now: str,
    clock: datetime.datetime,
    max_unavailable: int,
) -> tuple[Obj, bool, float | None]:
    """``calculateStatus`` + ``syncRolloutStatus``: (status, complete, recheck in s)."""
    old = d.get("status") or {}
    n = replicas(d)
    if new is not None and all(rs["metadata"]["uid"] != new["metadata"]["uid"] for rs in rs_list):
        rs_list = [*rs_list, new]
    available = sum(status_count(rs, "availableReplicas") for rs in rs_list)
    counts = {
        "observedGeneration": d["metadata"].get("generation", 1),
        "replicas": sum(status_count(rs, "replicas") for rs in rs_list),
        "updatedReplicas": status_count(new, "replicas") if new is not None else 0,
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in rs_list),
        "availableReplicas": available,
        "unavailableReplicas": max(sum(replicas(rs) for rs in rs_list) - available, 0),
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    if "collisionCount" in old:
        status["collisionCount"] = old["collisionCount"]
    conds = [dict(c) for c in old.get("conditions") or []]
    if available >= n - max_unavailable:
        msg = "Deployment has minimum availability."
        conds = set_condition(conds, "Available", "True", "MinimumReplicasAvailable", msg, now)
    else:
        msg = "Deployment does not have minimum availability."
        conds = set_condition(conds, "Available", "False", "MinimumReplicasUnavailable", msg, now)
    complete = (
        counts["updatedReplicas"] == n
        and counts["replicas"] == n
        and available == n
        and counts["observedGeneration"] >= d["metadata"].get("generation", 1)
    )
    rs_name = new["metadata"]["name"] if new is not None else ""
    recheck: float | None = None
    deadline = d["spec"].get("progressDeadlineSeconds")
    cur = condition(d, "Progressing")
    if progressing is not None:
        state, reason, _ = progressing
        msg = {
            "NewReplicaSetCreated": f'Created new replica set "{rs_name}"',
            "FoundNewReplicaSet": f'Found new replica set "{rs_name}"',
            "DeploymentPaused": "Deployment is paused",
        }[reason]
        conds = set_condition(conds, "Progressing", state, reason, msg, now)
    elif deadline is not None:
        if cur is not None and cur.get("reason") == "DeploymentPaused":
            msg = "Deployment is resumed"
            conds = set_condition(conds, "Progressing", "Unknown", "DeploymentResumed", msg, now)
            cur = None
        if complete:
            msg = f'ReplicaSet "{rs_name}" has successfully progressed.'
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable", msg, now)
        elif cur is None or progressed(old, counts):
            msg = f'ReplicaSet "{rs_name}" is progressing.'
            conds = set_condition(conds, "Progressing", "True", "ReplicaSetUpdated", msg, now, True)
            recheck = float(deadline) + 1.0
        elif cur.get("reason") != "ProgressDeadlineExceeded":
            since = parse_time(cur.get("lastUpdateTime"))
            left = (since - clock).total_seconds() + float(deadline) if since is not None else 0.0
            if left <= 0:
                msg = f'ReplicaSet "{rs_name}" has timed out progressing.'
                conds = set_condition(
                    conds, "Progressing", "False", "ProgressDeadlineExceeded", msg, now
                )
            else:
                recheck = left + 1.0
    if deadline is None:
        conds = [c for c in conds if c.get("type") != "Progressing" or progressing]
    if conds:
        status["conditions"] = conds
    return status, complete, recheck


def progressed(old: Obj, new: dict[str, int]) -> bool:
    """``DeploymentProgressing``: more updated/ready/available pods or fewer old ones."""

    def o(k: str) -> int:
        return int(old.get(k, 0) or 0)

    old_old = o("replicas") - o("updatedReplicas")
    new_old = new["replicas"] - new["updatedReplicas"]
    return (
        new["updatedReplicas"] > o("updatedReplicas")
        or new["readyReplicas"] > o("readyReplicas")
        or new["availableReplicas"] > o("availableReplicas")
        or new_old < old_old
    )


def set_condition(
    conds: list[Obj],
    type_: str,
    status: str,
    reason: str,
    message: str,
    now: str,
    touch: bool = False,
) -> list[Obj]:
    """``SetDeploymentCondition``: unchanged if status and reason are (unless ``touch``,
    which refreshes lastUpdateTime as progress does); lastTransitionTime kept while the
    status is."""
    cur = next((c for c in conds if c.get("type") == type_), None)
    same = cur is not None and cur.get("status") == status and cur.get("reason") == reason
    if same and (not touch or (cur is not None and cur.get("lastUpdateTime") == now)):
        return conds
    when = now
    if cur is not None and cur.get("status") == status:
        when = cur.get("lastTransitionTime", now)
    cond = {
        "type": type_,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": when,
        "reason": reason,
        "message": message,
    }
    out = [c for c in conds if c.get("type") != type_]
    # Kube's order: Available first, then Progressing.
    out.append(cond)
    out.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(c.get("type", ""), 2))
    return out


def condition(d: Obj, type_: str) -> Obj | None:
    for c in (d.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None
