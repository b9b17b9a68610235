"""Validation of ``batch/v1`` Jobs and CronJobs (``pkg/apis/batch/validation``).

Jobs: the generated selector must be intact (template labels carrying the Job's UID and
name, a selector matching them -- unless ``manualSelector``), the selector must match the
template labels, counts are non-negative, ``Indexed`` jobs need ``completions``, and the
template's ``restartPolicy`` must be ``OnFailure`` or ``Never`` (the ``Always`` default of
a PodSpec is therefore the classic first error). On update the selector, completion mode,
pod failure policy and (unless the job is suspended and has never started) the template
are immutable; completions may only change together with parallelism in indexed jobs.

CronJobs: schedule syntax (robfig/cron messages, see :mod:`._cron`), time zone, concurrency
policy, history limits, and the job template (no selector of its own).
"""

from __future__ import annotations

import copy
import re
import zoneinfo

from pilothouse.api.validation import is_dns1123_label
from pilothouse.apiserver.builtin._cron import CronError, parse_standard
from pilothouse.apiserver.builtin._rules import selector_of, validate_label_selector
from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    child,
    get_dict,
    get_str,
    go_label_selector,
    go_struct,
    immutable,
    invalid,
    is_int,
    key,
    nonnegative,
    not_supported,
    required,
    semantic_equal,
    string_map,
)
from pilothouse.apiserver.builtin.defaults_batch import (
    CONTROLLER_UID_LABEL,
    JOB_NAME_LABEL,
    LEGACY_CONTROLLER_UID_LABEL,
    LEGACY_JOB_NAME_LABEL,
)
from pilothouse.apiserver.builtin.validation_apps import template_labels_match
from pilothouse.apiserver.builtin.validation_pod import validate_pod_template_spec
from pilothouse.apiserver.errors import Cause

COMPLETION_MODES = ("NonIndexed", "Indexed")
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
MAX_PARALLELISM_FOR_INDEXED_JOB = 100_000
_TZ_PART_RE = re.compile(r"[A-Za-z\.\-_0-9+]{1,14}")


def validate_jobs(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    meta = as_dict(obj.get("metadata")) or {}
    errs = _validate_generated_selector(spec, meta)
    errs += _validate_job_spec(spec, "spec")
    if spec.get("selector") is None:
        errs.append(required("spec.selector"))
    else:
        errs += validate_label_selector(spec.get("selector"), "spec.selector")
    errs += template_labels_match(spec)
    completions = spec.get("completions")
    if spec.get("completionMode") == "Indexed" and is_int(completions) and completions > 0:
        hostname = f"{get_str(meta, 'name')}-{completions - 1}"
        if is_dns1123_label(hostname):
            detail = f"will not able to create pod with invalid DNS label: {hostname}"
            errs.append(invalid("metadata.name", get_str(meta, "name"), detail))
    if old is not None:
        errs += _validate_job_update(obj, old)
    return errs


def _validate_generated_selector(spec: Obj, meta: Obj) -> list[Cause]:
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    errs: list[Cause] = []
    uid, name = get_str(meta, "uid"), get_str(meta, "name")
    if not uid:
        errs.append(required("metadata.uid"))
    labels = string_map(get_dict(spec, "template", "metadata", "labels")) or {}
    expected = {
        LEGACY_CONTROLLER_UID_LABEL: uid,
        LEGACY_JOB_NAME_LABEL: name,
        CONTROLLER_UID_LABEL: uid,
        JOB_NAME_LABEL: name,
    }
    for label, value in expected.items():
        path = key("spec.template.metadata.labels", label)
        if label not in labels:
            errs.append(required(path, f"must be '{value}'"))
        elif labels[label] != value:
            errs.append(invalid(path, labels, f"must be '{value}'"))
    selector = selector_of(spec.get("selector"))
    if selector is not None and not selector.matches(expected):
        errs.append(
            invalid(
                "spec.selector",
                go_label_selector(spec.get("selector")),
                "`selector` not auto-generated",
            )
        )
    return errs


def _validate_job_spec(spec: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for field in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        errs += nonnegative(child(path, field), spec.get(field))
    errs += nonnegative(child(path, "ttlSecondsAfterFinished"), spec.get("ttlSecondsAfterFinished"))
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in COMPLETION_MODES:
            errs.append(not_supported(child(path, "completionMode"), mode, COMPLETION_MODES))
        if mode == "Indexed":
            if spec.get("completions") is None:
                errs.append(required(child(path, "completions"), "when completion mode is Indexed"))
            parallelism = spec.get("parallelism")
            if is_int(parallelism) and parallelism > MAX_PARALLELISM_FOR_INDEXED_JOB:
                detail = (
                    f"must be less than or equal to {MAX_PARALLELISM_FOR_INDEXED_JOB} "
                    "when completion mode is Indexed"
                )
                errs.append(invalid(child(path, "parallelism"), parallelism, detail))
    if spec.get("backoffLimitPerIndex") is not None and mode != "Indexed":
        errs.append(
            required(
                child(path, "completionMode"),
                "when backoffLimitPerIndex is specified, completionMode must be Indexed",
            )
        )
    policy = spec.get("podReplacementPolicy")
    if policy is not None and policy not in ("TerminatingOrFailed", "Failed"):
        errs.append(
            not_supported(
                child(path, "podReplacementPolicy"), policy, ("TerminatingOrFailed", "Failed")
            )
        )
    template_path = child(path, "template")
    errs += validate_pod_template_spec(spec.get("template"), template_path)
    restart = (get_dict(spec, "template", "spec") or {}).get("restartPolicy")
    restart_path = child(template_path, "spec", "restartPolicy")
    if restart not in ("OnFailure", "Never"):
        errs.append(not_supported(restart_path, restart, ("OnFailure", "Never")))
    elif spec.get("podFailurePolicy") is not None and restart != "Never":
        errs.append(
            invalid(
                restart_path,
                restart,
                'only "Never" is supported when podFailurePolicy is specified',
            )
        )
    return errs


def _validate_job_update(obj: Obj, old: Obj) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    old_spec = as_dict(old.get("spec")) or {}
    errs: list[Cause] = []
    completions, old_completions = spec.get("completions"), old_spec.get("completions")
    if completions != old_completions:
        if spec.get("completionMode") != "Indexed":
            errs.append(immutable("spec.completions", completions))
        elif completions is not None and completions != spec.get("parallelism"):
            errs.append(
                invalid(
                    "spec.completions",
                    completions,
                    "can only be modified in tandem with spec.parallelism",
                )
            )
    if not semantic_equal(spec.get("selector"), old_spec.get("selector")):
        errs.append(immutable("spec.selector", go_label_selector(spec.get("selector"))))
    if not semantic_equal(spec.get("template"), _allowed_template(spec, old_spec, old)):
        errs.append(immutable("spec.template", go_struct("core.PodTemplateSpec")))
    for field in (
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ):
        if not semantic_equal(spec.get(field), old_spec.get(field)):
            value = spec.get(field)
            if isinstance(value, dict):
                value = go_struct(f"batch.{field[0].upper()}{field[1:]}")
            errs.append(immutable(child("spec", field), value))
    return errs


def _allowed_template(spec: Obj, old_spec: Obj, old: Obj) -> object:
    """The old template with the fields a suspended, never-started Job may change."""
    old_template = old_spec.get("template")
    started = (as_dict(old.get("status")) or {}).get("startTime") is not None
    if old_spec.get("suspend") is not True or started or not isinstance(old_template, dict):
        return old_template
    allowed = copy.deepcopy(old_template)
    new_template = as_dict(spec.get("template")) or {}
    new_meta, new_spec = (
        as_dict(new_template.get("metadata")) or {},
        as_dict(new_template.get("spec")) or {},
    )
    meta = allowed.setdefault("metadata", {})
    tmpl_spec = allowed.setdefault("spec", {})
    for field in ("labels", "annotations"):
        meta[field] = new_meta.get(field)
    for field in ("nodeSelector", "tolerations", "schedulingGates"):
        tmpl_spec[field] = new_spec.get(field)
    affinity = dict(as_dict(tmpl_spec.get("affinity")) or {})
    new_affinity = as_dict(new_spec.get("affinity")) or {}
    affinity["nodeAffinity"] = new_affinity.get("nodeAffinity")
    tmpl_spec["affinity"] = affinity
    return allowed


def validate_cronjobs(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    old_spec = as_dict(old.get("spec")) if old is not None else None
    errs: list[Cause] = []
    schedule = get_str(spec, "schedule")
    if not schedule:
        errs.append(required("spec.schedule"))
    else:
        errs += _validate_schedule(schedule, spec, old_spec)
    errs += nonnegative("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds"))
    if old_spec is None or old_spec.get("timeZone") != spec.get("timeZone"):
        errs += _validate_time_zone(spec.get("timeZone"))
    policy = spec.get("concurrencyPolicy")
    if not policy:
        errs.append(required("spec.concurrencyPolicy"))
    elif policy not in CONCURRENCY_POLICIES:
        errs.append(not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES))
    job_spec = get_dict(spec, "jobTemplate", "spec") or {}
    errs += _validate_job_spec(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        value = go_label_selector(job_spec.get("selector"))
        errs.append(
            invalid("spec.jobTemplate.spec.selector", value, "`selector` will be auto-generated")
        )
    if job_spec.get("manualSelector") is True:
        errs.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ("nil", "false")))
    errs += nonnegative("spec.successfulJobsHistoryLimit", spec.get("successfulJobsHistoryLimit"))
    errs += nonnegative("spec.failedJobsHistoryLimit", spec.get("failedJobsHistoryLimit"))
    return errs


def _validate_schedule(schedule: str, spec: Obj, old_spec: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    try:
        parse_standard(schedule)
    except CronError as exc:
        errs.append(invalid("spec.schedule", schedule, str(exc)))
    allow_tz = old_spec is not None and "TZ" in get_str(old_spec, "schedule")
    if allow_tz and "TZ" in schedule and spec.get("timeZone") is not None:
        errs.append(
            invalid(
                "spec.schedule",
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            )
        )
    elif not allow_tz and "TZ" in schedule:
        errs.append(
            invalid(
                "spec.schedule",
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            )
        )
    return errs


def _validate_time_zone(tz: object) -> list[Cause]:
    if tz is None:
        return []
    path = "spec.timeZone"
    zone = str(tz)
    if not zone:
        return [invalid(path, zone, "timeZone must be nil or non-empty string")]
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TZ_PART_RE.fullmatch(part):
            return [invalid(path, zone, f"unknown time zone {zone}")]
    errs: list[Cause] = []
    if zone.lower() == "local":
        detail = (
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
        )
        errs.append(invalid(path, zone, detail))
    # Go resolves "Local" (exactly) to the server's zone; anything else must exist.
    if zone not in ("UTC", "Local"):
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errs.append(invalid(path, zone, f"unknown time zone {zone}"))
    return errs
