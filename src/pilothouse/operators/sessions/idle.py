"""When a running session stops by itself: idle timeout, maximum duration, wake requests.

Pure functions over times, so the schedule is unit-testable without a cluster or a clock.
The lifecycle controller calls :func:`evaluate` on every reconcile of a running session and
either stops the session (the deadline has passed) or returns ``requeue_after`` seconds
until the *earliest moment it could* stop. That is the whole scheduling mechanism: no loop
over all sessions, no polling. A heartbeat that moves ``lastActivity`` forward does not
need a reconcile of its own: when the old deadline fires, :func:`evaluate` sees the newer
activity and returns a later deadline.

Rules:

* **Idle**: the session has been idle since the latest of ``lastActivity`` and
  ``startedAt`` (the start of the current running period; the creation time when neither
  is known). Counting from ``startedAt`` too matters: a session woken after a day of
  hibernation has a day-old ``lastActivity`` and would otherwise be stopped at once. It
  stops at ``idle base + idleTimeout + grace``; the grace period absorbs heartbeats in
  flight and coalesced heartbeat writes. An ``idleTimeout`` of 0 disables it.
* **Max duration**: stops at ``startedAt + maxSessionDuration`` whatever the activity.
  When both are due, max-duration is reported (it is the one more activity cannot fix).
* **Wake**: a hibernated session wakes when its wake-request time is strictly newer than
  the time it was stopped (``status.hibernatedAt``). A request with an unparseable time, or
  when no stop time is recorded, is ignored: an old, stale request must never restart a
  session the user stopped.

Times are timezone-aware datetimes; on the wire they are RFC 3339 (:func:`parse_time`,
:func:`format_time`) at second precision, as ``metav1.Time``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = [
    "Decision",
    "evaluate",
    "format_time",
    "idle_deadline",
    "max_duration_deadline",
    "parse_time",
    "wake_requested",
]

StopReason = Literal["idle", "max-duration"]


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 time as an aware datetime; None for None, "" or anything unparseable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def format_time(when: datetime) -> str:
    """RFC 3339, UTC, second precision (``metav1.Time``)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def idle_deadline(
    *,
    last_activity: datetime | None,
    started_at: datetime | None,
    created_at: datetime | None,
    idle_timeout: float,
    grace: float,
) -> datetime | None:
    """When the session becomes idle (None: never, or nothing to count from)."""
    if idle_timeout <= 0:
        return None
    known = [t for t in (last_activity, started_at) if t is not None]
    base = max(known) if known else created_at
    if base is None:
        return None
    return base + timedelta(seconds=idle_timeout + grace)


def max_duration_deadline(
    started_at: datetime | None, max_duration: float | None
) -> datetime | None:
    """When the session has run for ``max_duration`` (None: no limit, or not started)."""
    if started_at is None or max_duration is None or max_duration <= 0:
        return None
    return started_at + timedelta(seconds=max_duration)


@dataclass(frozen=True, slots=True)
class Decision:
    """Stop now (``stop`` says why), or check again at ``next_check`` (None: never)."""

    stop: StopReason | None
    next_check: datetime | None
    note: str = ""

    def requeue_after(self, now: datetime) -> float | None:
        """Seconds from ``now`` to :attr:`next_check` (never negative)."""
        if self.next_check is None:
            return None
        return max(0.0, (self.next_check - now).total_seconds())


def evaluate(
    now: datetime,
    *,
    last_activity: datetime | None,
    started_at: datetime | None,
    created_at: datetime | None,
    idle_timeout: float,
    max_duration: float | None,
    grace: float,
) -> Decision:
    """Whether a running session must stop now, else when to look again."""
    idle_at = idle_deadline(
        last_activity=last_activity,
        started_at=started_at,
        created_at=created_at,
        idle_timeout=idle_timeout,
        grace=grace,
    )
    max_at = max_duration_deadline(started_at, max_duration)
    if max_at is not None and now >= max_at:
        return Decision("max-duration", None, f"ran for its maximum of {max_duration:g}s")
    if idle_at is not None and now >= idle_at:
        return Decision("idle", None, f"no activity for more than {idle_timeout:g}s (+{grace:g}s)")
    deadlines = [t for t in (idle_at, max_at) if t is not None]
    return Decision(None, min(deadlines) if deadlines else None)


def wake_requested(requested_at: object, hibernated_at: datetime | None) -> bool:
    """Whether a wake request (the annotation's value) is newer than the stop time."""
    requested = parse_time(requested_at)
    return requested is not None and hibernated_at is not None and requested > hibernated_at
