"""``metav1.Condition`` on status dicts: set, find, test, remove -- and a Ready rollup.

A port of apimachinery's ``meta.SetStatusCondition`` family over the JSON form of
``status.conditions`` (a list of dicts with ``type``, ``status``, ``reason``, ``message``,
``observedGeneration`` and ``lastTransitionTime``), plus :class:`ConditionSet`, a small take
on knative's ``apis.ConditionSet`` that derives a top-level condition (``Ready``) from
dependent ones.

Guarantees:

* :func:`set_condition` changes ``lastTransitionTime`` only when ``status`` changes; a new
  reason, message or observedGeneration is recorded but keeps the transition time, so
  ``kubectl wait`` and alerting on "false for more than N minutes" see real transitions.
* It returns whether anything changed, so a reconciler can skip the status write (and the
  watch event it would cause) when nothing did -- writing identical status every pass is
  how controllers end up reconciling in a hot loop.
* Values are validated as the API server validates them (``ValidateConditions``): a
  condition this module accepts is never the reason a status update is rejected.
  :class:`ConditionError` (a ValueError) says what is wrong before any round trip.
* Timestamps are RFC 3339 with second precision in UTC (``2024-01-01T00:00:00Z``), the
  serialisation of ``metav1.Time``; the server would truncate finer precision anyway, which
  would make the condition look changed on every comparison.

Caveats:

* Functions mutate the list they are given. Use the list inside the object you are going
  to write (``obj["status"].setdefault("conditions", [])``), not a copy.
* Condition *types* should be CamelCase (``Ready``, ``Progressing``); the server only
  insists on a qualified name (``example.com/Ready`` is valid too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pilothouse.api.validation import is_qualified_name

__all__ = [
    "ConditionError",
    "ConditionManager",
    "ConditionSet",
    "find_condition",
    "format_time",
    "is_false",
    "is_true",
    "is_unknown",
    "remove_condition",
    "set_condition",
    "validate_condition",
]

Status = Literal["True", "False", "Unknown"]

#: ``metav1.Condition``'s reason pattern (CamelCase; ``_``, ``,`` and ``:`` allowed inside).
REASON_RE = re.compile(r"[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?")
REASON_MAX_LENGTH = 1024
MESSAGE_MAX_LENGTH = 32768
TYPE_MAX_LENGTH = 316


class ConditionError(ValueError):
    """A condition the API server would reject."""


def format_time(when: datetime) -> str:
    """RFC 3339 at second precision in UTC, as ``metav1.Time`` serialises."""
    if when.tzinfo is None:
        raise ConditionError("timestamps must be timezone-aware (use datetime.now(UTC))")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(value: bool | str) -> Status:
    if value is True or value == "True":
        return "True"
    if value is False or value == "False":
        return "False"
    if value == "Unknown":
        return "Unknown"
    raise ConditionError(f"status must be True, False or Unknown, not {value!r}")


def validate_condition(cond: dict[str, Any]) -> None:
    """Raise :class:`ConditionError` if the API server would reject ``cond``."""
    errs: list[str] = []
    ctype = cond.get("type")
    if not isinstance(ctype, str) or not ctype:
        errs.append("type: Required value")
    else:
        errs += [f"type: {e}" for e in is_qualified_name(ctype)]
        if len(ctype) > TYPE_MAX_LENGTH:
            errs.append(f"type: must be no more than {TYPE_MAX_LENGTH} characters")
    if cond.get("status") not in ("True", "False", "Unknown"):
        errs.append(f"status: Unsupported value: {cond.get('status')!r}")
    reason = cond.get("reason")
    if not isinstance(reason, str) or not reason:
        errs.append("reason: Required value")
    else:
        if len(reason) > REASON_MAX_LENGTH:
            errs.append(f"reason: must be no more than {REASON_MAX_LENGTH} characters")
        if not REASON_RE.fullmatch(reason):
            errs.append(
                f"reason: Invalid value: {reason!r}: a condition reason must start with an "
                "alphabetic character, optionally followed by a string of alphanumeric "
                "characters or '_,:', and must end with an alphanumeric character or '_'"
            )
    message = cond.get("message", "")
    if not isinstance(message, str) or len(message) > MESSAGE_MAX_LENGTH:
        errs.append(f"message: must be a string of at most {MESSAGE_MAX_LENGTH} characters")
    generation = cond.get("observedGeneration", 0)
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        errs.append("observedGeneration: must be greater than or equal to zero")
    if not cond.get("lastTransitionTime"):
        errs.append("lastTransitionTime: Required value")
    if errs:
        raise ConditionError(f"invalid condition {ctype!r}: " + "; ".join(errs))


def find_condition(conditions: Iterable[dict[str, Any]] | None, type: str) -> dict[str, Any] | None:
    """The condition of ``type``, or None."""
    for cond in conditions or ():
        if cond.get("type") == type:
            return cond
    return None


def set_condition(
    conditions: list[dict[str, Any]],
    type: str,
    status: bool | str,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """Set the condition of ``type`` in ``conditions`` (in place); True if anything changed.

    ``status`` may be a bool or ``"True"``/``"False"``/``"Unknown"``. ``now`` becomes the
    ``lastTransitionTime`` when the condition is new or its status changes (default: the
    current time). ``observed_generation`` None leaves an existing value alone (and records 0
    for a new condition) -- pass ``obj["metadata"]["generation"]`` to say which spec this
    status describes.
    """
    new: dict[str, Any] = {
        "type": type,
        "status": _status(status),
        "reason": reason,
        "message": message,
        "lastTransitionTime": format_time(now or datetime.now(UTC)),
    }
    existing = find_condition(conditions, type)
    generation = observed_generation
    if generation is None:
        generation = existing.get("observedGeneration", 0) if existing else 0
    new["observedGeneration"] = generation
    validate_condition(new)
    if existing is None:
        conditions.append(new)
        return True
    changed = False
    if existing.get("status") != new["status"] or not existing.get("lastTransitionTime"):
        existing["lastTransitionTime"] = new["lastTransitionTime"]
        changed = True
    for key in ("status", "reason", "message", "observedGeneration"):
        if existing.get(key) != new[key]:
            existing[key] = new[key]
            changed = True
    return changed


def remove_condition(conditions: list[dict[str, Any]], type: str) -> bool:
    """Remove the condition of ``type``; True if there was one."""
    kept = [c for c in conditions if c.get("type") != type]
    removed = len(kept) != len(conditions)
    conditions[:] = kept
    return removed


def _has_status(conditions: Iterable[dict[str, Any]] | None, type: str, status: Status) -> bool:
    cond = find_condition(conditions, type)
    return cond is not None and cond.get("status") == status


def is_true(conditions: Iterable[dict[str, Any]] | None, type: str) -> bool:
    """Whether the condition of ``type`` exists and is True."""
    return _has_status(conditions, type, "True")


def is_false(conditions: Iterable[dict[str, Any]] | None, type: str) -> bool:
    """Whether the condition of ``type`` exists and is False."""
    return _has_status(conditions, type, "False")


def is_unknown(conditions: Iterable[dict[str, Any]] | None, type: str) -> bool:
    """Whether the condition of ``type`` is Unknown *or absent* (apimachinery's rule)."""
    cond = find_condition(conditions, type)
    return cond is None or cond.get("status") == "Unknown"


class ConditionSet:
    """A top-level ("happy") condition derived from dependent conditions.

    Like knative's ``apis.ConditionSet``: ``ConditionSet("Ready", ["DeploymentReady",
    "ServiceReady"])``; :meth:`manage` a status's condition list, then mark dependents:

    * a dependent marked **False** makes the happy condition False with the same reason and
      message (failures win);
    * a dependent marked **Unknown** makes it Unknown, unless another dependent is False;
    * when **every** dependent is True, it becomes True.
    """

    def __init__(self, happy: str, dependents: Sequence[str] = ()) -> None:
        if happy in dependents:
            raise ValueError(f"{happy!r} cannot depend on itself")
        self.happy = happy
        self.dependents = tuple(dependents)

    def manage(
        self,
        conditions: list[dict[str, Any]],
        observed_generation: int | None = None,
        *,
        now: datetime | None = None,
    ) -> ConditionManager:
        return ConditionManager(self, conditions, observed_generation, now)


class ConditionManager:
    """Marks conditions of one condition list under a :class:`ConditionSet`'s rules.

    :attr:`changed` tells whether any mark changed the list (so the status needs writing).
    """

    #: The reason recorded on True conditions when none is given (metav1 requires one).
    TRUE_REASON = "AsExpected"

    def __init__(
        self,
        cset: ConditionSet,
        conditions: list[dict[str, Any]],
        observed_generation: int | None,
        now: datetime | None,
    ) -> None:
        self.set = cset
        self.conditions = conditions
        self.observed_generation = observed_generation
        self.now = now
        self.changed = False

    def _set(self, type: str, status: Status, reason: str, message: str) -> None:
        self.changed |= set_condition(
            self.conditions,
            type,
            status,
            reason,
            message,
            self.observed_generation,
            now=self.now,
        )

    def initialize(self) -> None:
        """Add the happy condition and every dependent as Unknown where absent (as True if
        the happy condition is already True, like knative's InitializeConditions)."""
        happy = find_condition(self.conditions, self.set.happy)
        if happy is None:
            self._set(self.set.happy, "Unknown", "Initializing", "")
        status: Status = "True" if is_true(self.conditions, self.set.happy) else "Unknown"
        reason = self.TRUE_REASON if status == "True" else "Initializing"
        for dep in self.set.dependents:
            if find_condition(self.conditions, dep) is None:
                self._set(dep, status, reason, "")

    def mark_true(self, type: str, reason: str = TRUE_REASON, message: str = "") -> None:
        self._set(type, "True", reason, message)
        if all(is_true(self.conditions, dep) for dep in self.set.dependents):
            self._set(self.set.happy, "True", self.TRUE_REASON, "")

    def mark_false(self, type: str, reason: str, message: str = "") -> None:
        self._set(type, "False", reason, message)
        if type in self.set.dependents:
            self._set(self.set.happy, "False", reason, message)

    def mark_unknown(self, type: str, reason: str, message: str = "") -> None:
        self._set(type, "Unknown", reason, message)
        for dep in self.set.dependents:
            failed = find_condition(self.conditions, dep)
            if failed is not None and failed.get("status") == "False":
                # A failure elsewhere trumps this Unknown: keep (or make) the happy one False,
                # explained by the failure rather than by this Unknown.
                if not is_false(self.conditions, self.set.happy):
                    self._set(self.set.happy, "False", failed["reason"], failed.get("message", ""))
                return
        if type in self.set.dependents:
            self._set(self.set.happy, "Unknown", reason, message)

    def is_happy(self) -> bool:
        return is_true(self.conditions, self.set.happy)

    def happy_condition(self) -> dict[str, Any] | None:
        return find_condition(self.conditions, self.set.happy)
