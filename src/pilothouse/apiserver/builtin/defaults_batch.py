"""Defaults of ``batch/v1`` Jobs and CronJobs, including the Job's generated selector.

``SetDefaults_Job`` covers completions/parallelism, ``backoffLimit`` (6, or MaxInt32 when
``backoffLimitPerIndex`` is used), ``completionMode``, ``suspend``, the pod-failure-policy
condition status and ``podReplacementPolicy`` (``Failed`` with a pod failure policy,
``TerminatingOrFailed`` otherwise; JobPodReplacementPolicy is on in 1.32).

The selector is not a defaulter upstream but the Job strategy's ``generateSelector``
(create, unless ``spec.manualSelector`` is true). It keys everything on the Job's UID, so
**the caller must set ``metadata.uid`` before defaulting a new Job**; without a UID the
selector is left alone and validation reports what is missing. It adds
``batch.kubernetes.io/controller-uid``, ``batch.kubernetes.io/job-name`` and the legacy
``controller-uid``/``job-name`` labels to the pod template (keeping any the user set) and
selects on ``batch.kubernetes.io/controller-uid``.

The Job's own labels default to the template labels when it has none. Upstream that
happens by aliasing the template's label map *before* the selector labels are added (and
again when the object is read back), so a Job ends up labelled with the generated labels
too; copying after generation gives the same result.
"""

from __future__ import annotations

from pilothouse.apiserver.builtin._util import (
    MAX_INT32,
    Obj,
    as_dict,
    dicts,
    ensure_dict,
    get_dict,
    set_if_empty,
    set_if_none,
)
from pilothouse.apiserver.builtin.defaults_pod import default_pod_template

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"


def default_jobs(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    _default_job_spec(spec)
    generate_job_selector(obj)
    template_labels = get_dict(spec, "template", "metadata", "labels")
    meta = ensure_dict(obj, "metadata")
    if template_labels is not None and meta is not None and not meta.get("labels"):
        meta["labels"] = dict(template_labels)


def _default_job_spec(spec: Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    set_if_none(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    set_if_none(spec, "completionMode", "NonIndexed")
    set_if_none(spec, "suspend", False)
    _default_pod_failure_policy(spec)
    if spec.get("podReplacementPolicy") is None:
        has_policy = spec.get("podFailurePolicy") is not None
        spec["podReplacementPolicy"] = "Failed" if has_policy else "TerminatingOrFailed"
    default_pod_template(spec.get("template"))


def _default_pod_failure_policy(spec: Obj) -> None:
    policy = as_dict(spec.get("podFailurePolicy"))
    for _, rule in dicts((policy or {}).get("rules")):
        for _, pattern in dicts(rule.get("onPodConditions")):
            set_if_empty(pattern, "status", "True")


def generate_job_selector(obj: Obj) -> None:
    """The Job strategy's ``generateSelector`` (a no-op without ``metadata.uid``)."""
    spec = as_dict(obj.get("spec"))
    meta = as_dict(obj.get("metadata")) or {}
    uid, name = meta.get("uid"), meta.get("name")
    if spec is None or spec.get("manualSelector") is True or not isinstance(uid, str) or not uid:
        return
    template = ensure_dict(spec, "template")
    template_meta = ensure_dict(template, "metadata") if template is not None else None
    labels = ensure_dict(template_meta, "labels") if template_meta is not None else None
    if labels is None:
        return
    job_name = name if isinstance(name, str) else ""
    # A user-set value wins; a conflicting one is reported by validation.
    for label in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(label, job_name)
    for label in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(label, uid)
    selector = ensure_dict(spec, "selector")
    match_labels = ensure_dict(selector, "matchLabels") if selector is not None else None
    if match_labels is not None:
        match_labels.setdefault(CONTROLLER_UID_LABEL, uid)


def default_cronjobs(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    set_if_empty(spec, "concurrencyPolicy", "Allow")
    set_if_none(spec, "suspend", False)
    set_if_none(spec, "successfulJobsHistoryLimit", 3)
    set_if_none(spec, "failedJobsHistoryLimit", 1)
    job_spec = get_dict(spec, "jobTemplate", "spec")
    if job_spec is not None:
        # Only the nested pod template and pod-failure-policy defaulters reach a job
        # template; SetDefaults_Job applies to Job objects, not to JobSpecs.
        _default_pod_failure_policy(job_spec)
        default_pod_template(job_spec.get("template"))
