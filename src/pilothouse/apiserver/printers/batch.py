"""Printers of the batch group: Jobs (status, completions, duration) and CronJobs.

Design choice: a Job's duration runs to the caller's ``now`` until it completes, and a
CronJob's unset ``suspend`` prints as the v1 default (``False``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pilothouse.apiserver.printers.format import (
    age,
    aware,
    format_containers,
    format_selector,
    human_duration,
    parse_time,
    since,
)
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
from pilothouse.apiserver.printers.registry import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    column,
    register,
    wide,
)


def _job_condition(status: Obj, ctype: str) -> bool:
    return condition_true(maps_at(status, "conditions"), ctype)


@register(
    "batch",
    "jobs",
    NAME,
    column("Status", "Status of the job."),
    column("Completions", ("batch.v1.JobStatus", "succeeded")),
    column("Duration", "Time required to complete the job."),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", ("batch.v1.JobSpec", "selector")),
)
def _job(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(obj, "spec"), map_at(obj, "status")
    succeeded = as_int(status.get("succeeded"))
    parallelism = as_int(spec.get("parallelism"))
    wanted = spec.get("completions")
    if isinstance(wanted, int) and not isinstance(wanted, bool):  # null: "until one succeeds"
        completions = f"{succeeded}/{wanted}"
    elif parallelism > 1:
        completions = f"{succeeded}/1 of {parallelism}"
    else:
        completions = f"{succeeded}/1"
    start = parse_time(status.get("startTime"))
    end = parse_time(status.get("completionTime")) or aware(now)
    duration = "" if start is None else human_duration((end - start).total_seconds())
    if _job_condition(status, "Complete"):
        state = "Complete"
    elif _job_condition(status, "Failed"):
        state = "Failed"
    elif is_deleting(obj):
        state = "Terminating"
    elif _job_condition(status, "Suspended"):
        state = "Suspended"
    elif _job_condition(status, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    return [
        name_of(obj),
        state,
        completions,
        duration,
        age(obj, now),
        *format_containers(map_at(spec, "template", "spec")),
        format_selector(spec.get("selector")),
    ]


_CJ = "batch.v1.CronJob"


@register(
    "batch",
    "cronjobs",
    NAME,
    column("Schedule", (f"{_CJ}Spec", "schedule")),
    column("Timezone", (f"{_CJ}Spec", "timeZone")),
    column("Suspend", (f"{_CJ}Spec", "suspend"), "boolean"),
    column("Active", (f"{_CJ}Status", "active"), "integer"),
    column("Last Schedule", (f"{_CJ}Status", "lastScheduleTime")),
    AGE,
    CONTAINERS,
    IMAGES,
    wide("Selector", ("batch.v1.JobSpec", "selector")),
)
def _cron_job(obj: Obj, now: dt.datetime) -> list[Any]:
    spec, status = map_at(obj, "spec"), map_at(obj, "status")
    job_spec = map_at(spec, "jobTemplate", "spec")
    last = status.get("lastScheduleTime")
    suspend = spec.get("suspend", False)  # defaulted to false by the v1 API
    return [
        name_of(obj),
        as_str(spec.get("schedule")),
        as_str(spec.get("timeZone"), "<none>"),
        ("True" if suspend else "False") if isinstance(suspend, bool) else "<unset>",
        len(list_at(status, "active")),
        "<none>" if last is None else since(last, now),
        age(obj, now),
        *format_containers(map_at(job_spec, "template", "spec")),
        format_selector(job_spec.get("selector")),
    ]
