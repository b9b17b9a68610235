"""Defaults of the ``apps/v1`` workloads (``pkg/apis/apps/v1/defaults.go``).

Each workload's pod template gets the pod-template defaults of :mod:`.defaults_pod`; a
StatefulSet's ``volumeClaimTemplates`` get the PVC defaults (``volumeMode: Filesystem``) and,
because the generated defaulter runs ``SetDefaults_PersistentVolumeClaim`` on them too, a
``status.phase: Pending`` that clients famously see inside the template.

``StatefulSetAutoDeletePVC`` is on by default in 1.32, so the retention policy is always
filled in; alpha-only fields (``maxUnavailable`` of StatefulSet rolling updates) are not.
"""

from __future__ import annotations

from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    dicts,
    ensure_dict,
    set_if_empty,
    set_if_none,
)
from pilothouse.apiserver.builtin.defaults_pod import default_pod_template, default_pvc_spec


def _default_rolling_update(
    spec: Obj, field: str, *, max_unavailable: int | str, max_surge: int | str
) -> None:
    """A ``RollingUpdate`` strategy by default, and the surge/unavailable bounds of its block."""
    strategy = ensure_dict(spec, field)
    if strategy is None:
        return
    set_if_empty(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = ensure_dict(strategy, "rollingUpdate")
        if rolling is not None:
            set_if_none(rolling, "maxUnavailable", max_unavailable)
            set_if_none(rolling, "maxSurge", max_surge)


def default_deployments(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    set_if_none(spec, "replicas", 1)
    _default_rolling_update(spec, "strategy", max_unavailable="25%", max_surge="25%")
    set_if_none(spec, "revisionHistoryLimit", 10)
    set_if_none(spec, "progressDeadlineSeconds", 600)
    default_pod_template(spec.get("template"))


def default_replicasets(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    set_if_none(spec, "replicas", 1)
    default_pod_template(spec.get("template"))


def default_daemonsets(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    _default_rolling_update(spec, "updateStrategy", max_unavailable=1, max_surge=0)
    set_if_none(spec, "revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))


def default_statefulsets(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    set_if_empty(spec, "podManagementPolicy", "OrderedReady")
    strategy = ensure_dict(spec, "updateStrategy")
    if strategy is not None:
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
            # Only a defaulted type brings a defaulted rollingUpdate block with it.
            set_if_none(strategy, "rollingUpdate", {})
        rolling = as_dict(strategy.get("rollingUpdate"))
        if strategy["type"] == "RollingUpdate" and rolling is not None:
            set_if_none(rolling, "partition", 0)
    retention = ensure_dict(spec, "persistentVolumeClaimRetentionPolicy")
    if retention is not None:
        set_if_empty(retention, "whenDeleted", "Retain")
        set_if_empty(retention, "whenScaled", "Retain")
    set_if_none(spec, "replicas", 1)
    set_if_none(spec, "revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))
    for _, claim in dicts(spec.get("volumeClaimTemplates")):
        claim_spec = as_dict(claim.get("spec"))
        if claim_spec is not None:
            default_pvc_spec(claim_spec)
        status = ensure_dict(claim, "status")
        if status is not None:
            set_if_empty(status, "phase", "Pending")


def default_controllerrevisions(obj: Obj) -> None:
    """ControllerRevisions have no defaults; listed so every apps kind is accounted for."""
