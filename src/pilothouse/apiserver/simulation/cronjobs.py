"""The simulated CronJob controller (kube-controller-manager's ``cronjob-controller`` v2).

Design choices:

* The schedule logic is pure: :func:`parse_schedule` turns the 5-field cron syntax (lists,
  ranges, steps, month/day names, ``?``, the ``@hourly``-style macros and a ``CRON_TZ=``/
  ``TZ=`` prefix) into a :class:`Schedule`, whose :meth:`Schedule.next_after` and
  :meth:`Schedule.prev_at_or_before` take the instant explicitly, so they are unit-tested
  without a clock. Day-of-month and day-of-week combine as in robfig/cron (Kubernetes' parser):
  if either is ``*`` both must match, otherwise either may.
* Times are searched day by day, then hour, then minute, in the schedule's zone wall time
  (``spec.timeZone`` via :mod:`zoneinfo`); wall times skipped by a DST jump never fire.
* Like the real controller only the most recent missed schedule runs: the reconcile compares
  the latest schedule time at or before now with ``lastScheduleTime`` (or creation), bounded
  by ``startingDeadlineSeconds``, then sleeps with :meth:`Controller.after` until the next one.
* Job names are ``<cronjob>-<scheduled unix minutes>``, so a retried reconcile never runs a
  schedule twice (creation reports AlreadyExists).
"""

from __future__ import annotations

import copy
import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from pilothouse.apiserver.printers.format import parse_time
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.state import format_time

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: (low, high, names) per field: minute, hour, day of month, month, day of week.
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {n: i + 1 for i, n in enumerate(_MONTHS)}),
    (0, 6, {n: i for i, n in enumerate(_DAYS)}),
)
#: How far the search looks (Feb 29 on a given weekday may be decades away; give up).
_SEARCH_DAYS = 366 * 8


class ScheduleError(ValueError):
    """An unparsable schedule or unknown time zone."""


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    #: Whether day-of-month / day-of-week were ``*`` (robfig's star bit).
    days_star: bool
    weekdays_star: bool
    zone: dt.tzinfo

    def _day_matches(self, d: dt.date) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days
        dow = (d.weekday() + 1) % 7 in self.weekdays
        if self.days_star or self.weekdays_star:
            return dom and dow
        return dom or dow

    def _to_utc(self, wall: dt.datetime) -> dt.datetime | None:
        aware = wall.replace(tzinfo=self.zone)
        utc = aware.astimezone(dt.UTC)
        if utc.astimezone(self.zone).replace(tzinfo=None) != wall:
            return None  # skipped by a DST jump
        return utc

    def next_after(self, t: dt.datetime) -> dt.datetime | None:
        """The first schedule time strictly after ``t`` (an aware datetime), in UTC."""
        wall = t.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0)
        start = wall + dt.timedelta(minutes=1)
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        day = start.date()
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for h in hours:
                    for m in minutes:
                        cand = dt.datetime.combine(day, dt.time(h, m))
                        if cand < start:
                            continue
                        utc = self._to_utc(cand)
                        if utc is not None and utc > t:
                            return utc
            day += dt.timedelta(days=1)
        return None

    def prev_at_or_before(self, t: dt.datetime) -> dt.datetime | None:
        """The last schedule time at or before ``t`` (an aware datetime), in UTC."""
        end = t.astimezone(self.zone).replace(tzinfo=None, second=0, microsecond=0)
        hours = sorted(self.hours, reverse=True)
        minutes = sorted(self.minutes, reverse=True)
        day = end.date()
        for _ in range(_SEARCH_DAYS):
            if self._day_matches(day):
                for h in hours:
                    for m in minutes:
                        cand = dt.datetime.combine(day, dt.time(h, m))
                        if cand > end:
                            continue
                        utc = self._to_utc(cand)
                        if utc is not None and utc <= t:
                            return utc
            day -= dt.timedelta(days=1)
        return None


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    v = names.get(text.lower())
    if v is None:
        if not text.isdigit():
            raise ScheduleError(f"failed to parse int from {text}")
        v = int(text)
    if not low <= v <= (7 if high == 6 else high):  # Sunday may be 7
        raise ScheduleError(f"value {v} out of range [{low}, {high}]")
    return v


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"bad step in {part!r}")
            step = int(step_text)
        if rng in ("*", "?"):
            a, b = low, high
        elif "-" in rng:
            lo_text, _, hi_text = rng.partition("-")
            a, b = _value(lo_text, low, high, names), _value(hi_text, low, high, names)
            if a > b:
                raise ScheduleError(f"beginning of range ({a}) beyond end of range ({b})")
        else:
            a = _value(rng, low, high, names)
            b = high if step_text else a
        out.update(range(a, b + 1, step))
    if high == 6 and 7 in out:
        out = (out - {7}) | {0}
    return frozenset(out)


def parse_schedule(text: str, time_zone: str | None = None) -> Schedule:
    """Parse a CronJob ``spec.schedule`` (with ``spec.timeZone``)."""
    text = text.strip()
    zone_name = time_zone
    for prefix in ("CRON_TZ=", "TZ="):
        if text.startswith(prefix):
            zone_name, _, text = text[len(prefix) :].partition(" ")
            text = text.strip()
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(zone_name) if zone_name else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone {zone_name}") from exc
    text = _MACROS.get(text.lower(), text)
    parts = text.split()
    if len(parts) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(parts)}: {text}")
    m, h, d, mo, wd = (_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True))
    return Schedule(
        m,
        h,
        d,
        mo,
        wd,
        days_star=parts[2] in ("*", "?") or parts[2].startswith(("*/", "?/")),
        weekdays_star=parts[4] in ("*", "?") or parts[4].startswith(("*/", "?/")),
        zone=zone,
    )


def _finished(job: base.Obj) -> str | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


class CronJobController(base.Controller):
    name = "cronjob-controller"
    resource = "cronjobs.batch"
    watches = ("jobs.batch",)

    def __init__(self, st: Any, config: base.SimulationConfig) -> None:
        super().__init__(st, config)

    async def reconcile(self, key: base.Key) -> None:
        cj = self.get(self.resource, *key)
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return
        spec = cj.get("spec") or {}
        status = copy.deepcopy(cj.get("status") or {})
        jobs = self.owned_by("jobs.batch", cj)
        active = [j for j in jobs if _finished(j) is None]
        done = sorted(
            (j for j in jobs if _finished(j)),
            key=lambda j: (
                str((j.get("status") or {}).get("completionTime") or "")
                or str(j["metadata"].get("creationTimestamp", ""))
            ),
        )
        successes = [j for j in done if _finished(j) == "Complete"]
        if successes:
            times = [str(j["status"].get("completionTime") or "") for j in successes]
            latest = max(times)
            if latest and latest > str(status.get("lastSuccessfulTime") or ""):
                status["lastSuccessfulTime"] = latest
        await self._cleanup(successes, spec.get("successfulJobsHistoryLimit", 3))
        failures = [j for j in done if _finished(j) == "Failed"]
        await self._cleanup(failures, spec.get("failedJobsHistoryLimit", 1))

        now = self.st.clock()
        try:
            sched = parse_schedule(str(spec.get("schedule", "")), spec.get("timeZone"))
        except ScheduleError:
            await self._write(cj, status, active)
            return
        if not spec.get("suspend"):
            recent = sched.prev_at_or_before(now)
            earliest = parse_time(status.get("lastScheduleTime")) or parse_time(
                cj["metadata"].get("creationTimestamp")
            )
            deadline = spec.get("startingDeadlineSeconds")
            if deadline is not None and earliest is not None:
                earliest = max(earliest, now - dt.timedelta(seconds=int(deadline)))
            if recent is not None and (earliest is None or recent > earliest):
                started = await self._start_job(cj, recent, active)
                if started is not None:
                    status["lastScheduleTime"] = format_time(recent)
                    active = started
        await self._write(cj, status, active)
        nxt = sched.next_after(now)
        if nxt is not None and not spec.get("suspend"):
            self.after(key, (nxt - now).total_seconds() + 0.01)

    async def _start_job(
        self, cj: base.Obj, when: dt.datetime, active: list[base.Obj]
    ) -> list[base.Obj] | None:
        """Start the job for ``when``; None if the concurrency policy forbids it."""
        meta = cj["metadata"]
        policy = (cj.get("spec") or {}).get("concurrencyPolicy") or "Allow"
        name = f"{meta['name']}-{int(when.timestamp()) // 60}"
        if any(j["metadata"]["name"] == name for j in active):
            return active
        if active and policy == "Forbid":
            return None
        if active and policy == "Replace":
            for j in active:
                await self.delete(
                    "jobs.batch", meta["namespace"], j["metadata"]["name"], uid=j["metadata"]["uid"]
                )
            active = []
        tmpl = copy.deepcopy((cj.get("spec") or {}).get("jobTemplate") or {})
        tmeta = tmpl.get("metadata") or {}
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": tmeta.get("labels") or {},
                "annotations": {
                    **(tmeta.get("annotations") or {}),
                    "batch.kubernetes.io/cronjob-scheduled-timestamp": format_time(when),
                },
                "ownerReferences": [base.controller_ref(cj, "batch/v1", "CronJob")],
            },
            "spec": tmpl.get("spec") or {},
        }
        created = await self.create("jobs.batch", meta["namespace"], job)
        return [*active, created] if created is not None else active

    async def _cleanup(self, finished: list[base.Obj], limit: object) -> None:
        if not isinstance(limit, int):
            return
        extra = len(finished) - max(limit, 0)
        for j in finished[: max(extra, 0)]:
            m = j["metadata"]
            await self.delete("jobs.batch", m["namespace"], m["name"], uid=m["uid"])

    async def _write(self, cj: base.Obj, status: base.Obj, active: list[base.Obj]) -> None:
        refs = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": j["metadata"]["name"],
                "namespace": j["metadata"]["namespace"],
                "uid": j["metadata"]["uid"],
            }
            for j in sorted(active, key=lambda j: str(j["metadata"]["name"]))
        ]
        if refs:
            status["active"] = refs
        else:
            status.pop("active", None)
        await self.update_status(self.resource, cj, status)
