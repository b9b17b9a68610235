"""Session quota arithmetic: Kubernetes quantities, what one session uses, and whether a
request fits the namespace's SessionQuotas. Pure functions, no I/O: the validating webhook
(:mod:`.admission`) feeds them from the manager's cache.

What counts (the contract :class:`.quota.QuotaLimits` enforces):

* ``sessions``, ``cpu`` and ``memory`` count sessions whose *desired* state is
  ``running``: a hibernated session holds no pod, so resuming it is what must fit the
  quota, and a session being started is counted the moment it is asked to run, not when
  its pod is ready (otherwise a burst of creates would all fit);
* ``cpu`` and ``memory`` are the session's requests (its limits where it requests
  nothing, as Kubernetes defaults requests to limits), from its own ``resources`` or,
  when it has none, its template's -- the same precedence as :func:`.workload.resolve`;
* ``storage`` is the home claim's size for every session that still has a claim: any
  state but ``terminated``, or terminated with ``keepOnTerminate``.

Per-user limits compare the usage of the user's sessions, per-namespace limits that of
all sessions. Only what a request *raises* is checked: an update that lowers or keeps a
resource is never refused because the namespace is already over a limit someone lowered.
Quantities are exact (:class:`fractions.Fraction`), so ``"0.1"`` ten times is exactly
``"1"`` and a request at the limit is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from pilothouse.api import quantity
from pilothouse.operators.sessions import common
from pilothouse.operators.sessions import quota as quota_mod
from pilothouse.operators.sessions import session as session_mod

__all__ = [
    "RESOURCES",
    "QuantityError",
    "Usage",
    "Violation",
    "check",
    "evaluate",
    "format_quantity",
    "increase",
    "parse_quantity",
    "session_usage",
    "total",
]

Resource = Literal["sessions", "cpu", "memory", "storage"]
RESOURCES: tuple[Resource, ...] = ("sessions", "cpu", "memory", "storage")

#: Go's parser refuses exponents this large; bounding them also keeps a hostile
#: ``1e999999999`` from costing seconds of big-integer arithmetic.
_MAX_EXPONENT = 1000


class QuantityError(ValueError):
    """Not a Kubernetes quantity (or a negative one where usage is meant)."""


def parse_quantity(value: object) -> Fraction:
    """The exact value of a Kubernetes quantity as JSON carries it (``"500m"``, ``"1Gi"``,
    ``"1.5"``, ``"2e3"``, or a bare number); parsing is the API server's own
    (``api.quantity``), the value made exact here for the arithmetic."""
    parsed = quantity.parse(value)
    if parsed is None or not parsed.value.is_finite():
        raise QuantityError(f"not a quantity: {value!r}")
    if abs(parsed.value.adjusted()) > _MAX_EXPONENT:
        raise QuantityError(f"not a quantity: {value!r} (exponent out of range)")
    return Fraction(parsed.value)


def format_quantity(value: Fraction, *, binary: bool = False) -> str:
    """A short quantity string for messages: ``Gi``-style suffixes for whole byte counts
    when ``binary`` (memory, storage), else the largest decimal suffix that keeps the
    mantissa whole (``2500m``, ``2``, ``3k``)."""
    if value == 0:
        return "0"
    if binary and value.denominator == 1:
        for suffix, exp in sorted(quantity.BINARY_SUFFIXES.items(), key=lambda kv: -kv[1]):
            if value.numerator % (2**exp) == 0:
                return f"{value.numerator // 2**exp}{suffix}"
    for suffix, exp in sorted(quantity.DECIMAL_SUFFIXES.items(), key=lambda kv: -kv[1]):
        scaled = value / Fraction(10) ** exp
        if scaled.denominator == 1:
            return f"{scaled.numerator}{suffix}"
    # Finer than a nano: an exact decimal does not exist in general; show it rounded.
    return f"{float(value):g}"


@dataclass(frozen=True)
class Usage:
    """What sessions use, per quota resource (CPU in cores, memory and storage in bytes)."""

    sessions: int = 0
    cpu: Fraction = Fraction(0)
    memory: Fraction = Fraction(0)
    storage: Fraction = Fraction(0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.sessions + other.sessions,
            self.cpu + other.cpu,
            self.memory + other.memory,
            self.storage + other.storage,
        )

    def get(self, resource: Resource) -> Fraction:
        return Fraction(getattr(self, resource))

    def any_positive(self) -> bool:
        return any(self.get(r) > 0 for r in RESOURCES)


def _exact_sum(values: list[Fraction]) -> Fraction:
    # Over a common denominator in integers: adding Fractions one by one normalises (a gcd)
    # at every step, which made summing a 500-session namespace cost milliseconds.
    denominator = math.lcm(*(v.denominator for v in values)) if values else 1
    return Fraction(sum(v.numerator * (denominator // v.denominator) for v in values), denominator)


def total(usages: Iterable[Usage]) -> Usage:
    """The sum of ``usages`` (equal to adding them one by one, only faster)."""
    items = list(usages)
    return Usage(
        sum(u.sessions for u in items),
        _exact_sum([u.cpu for u in items]),
        _exact_sum([u.memory for u in items]),
        _exact_sum([u.storage for u in items]),
    )


def increase(new: Usage, old: Usage) -> Usage:
    """What going from ``old`` to ``new`` adds, per resource (never negative)."""
    return Usage(
        max(0, new.sessions - old.sessions),
        max(Fraction(0), new.cpu - old.cpu),
        max(Fraction(0), new.memory - old.memory),
        max(Fraction(0), new.storage - old.storage),
    )


def _nonnegative(value: object, what: str) -> Fraction:
    try:
        q = parse_quantity(value)
    except QuantityError as e:
        raise QuantityError(f"{what}: {e}") from None
    if q < 0:
        raise QuantityError(f"{what}: must not be negative, got {value!r}")
    return q


def _requested(res: common.ResourceRequirements | None, name: str, what: str) -> Fraction:
    if res is None:
        return Fraction(0)
    for part, values in (("requests", res.requests), ("limits", res.limits)):
        if values and name in values:
            return _nonnegative(values[name], f"{what}.{part}.{name}")
    return Fraction(0)


def session_usage(
    spec: session_mod.SessionSpec, template_resources: common.ResourceRequirements | None
) -> Usage:
    """What one session counts against quotas; ``template_resources`` are its template's
    (used only when the session has no ``resources`` of its own). Raises
    :class:`QuantityError` for a malformed or negative quantity."""
    storage = Fraction(0)
    home = spec.home
    if home is not None and home.enabled and (spec.state != "terminated" or home.keep_on_terminate):
        storage = _nonnegative(home.size, "spec.home.size")
    if spec.state != "running":
        return Usage(storage=storage)
    res = spec.resources or template_resources
    what = "spec.resources" if spec.resources else "the template's resources"
    return Usage(1, _requested(res, "cpu", what), _requested(res, "memory", what), storage)


@dataclass(frozen=True)
class Violation:
    """One limit a request would exceed, with the numbers the denial shows."""

    scope: str
    """Whose usage: ``user "alice"`` or ``namespace "team-a"``."""
    resource: Resource
    quota: str
    limit: Fraction
    in_use: Fraction
    requested: Fraction

    def _fmt(self, value: Fraction) -> str:
        return format_quantity(value, binary=self.resource in ("memory", "storage"))

    @property
    def message(self) -> str:
        total = self.in_use + self.requested
        unit = {
            "sessions": "session" if total == 1 else "sessions",
            "cpu": "CPU",
            "memory": "of memory",
            "storage": "of storage",
        }[self.resource]
        return (
            f"{self.scope} would use {self._fmt(total)} {unit}, over the limit of "
            f'{self._fmt(self.limit)} set by SessionQuota "{self.quota}" '
            f"(in use: {self._fmt(self.in_use)}, requested: {self._fmt(self.requested)})"
        )


def _limits(limits: quota_mod.QuotaLimits, quota: str) -> dict[Resource, Fraction]:
    out: dict[Resource, Fraction] = {}
    for resource in RESOURCES:
        raw: Any = getattr(limits, resource)
        if raw is not None:
            what = f'SessionQuota "{quota}" limit {resource}'
            out[resource] = _nonnegative(raw, what)
    return out


def check(
    limits: quota_mod.QuotaLimits | None,
    *,
    scope: str,
    quota: str,
    in_use: Usage,
    requested: Usage,
) -> list[Violation]:
    """The limits of ``limits`` that ``in_use`` plus ``requested`` would exceed; only
    resources the request raises are checked (``requested`` is an :func:`increase`)."""
    if limits is None:
        return []
    violations = []
    for resource, limit in _limits(limits, quota).items():
        req = requested.get(resource)
        if req > 0 and in_use.get(resource) + req > limit:
            violations.append(Violation(scope, resource, quota, limit, in_use.get(resource), req))
    return violations


def evaluate(
    *,
    namespace: str,
    user: str,
    new: Usage,
    old: Usage,
    others: Iterable[tuple[str, Usage]],
    quotas: Mapping[str, quota_mod.SessionQuotaSpec],
) -> list[Violation]:
    """Every limit of ``quotas`` (by name) that a session of ``user`` going from ``old``
    (nothing, on create) to ``new`` would exceed, given the ``others`` -- the (user,
    usage) of the namespace's other sessions."""
    requested = increase(new, old)
    if not requested.any_positive() or not quotas:
        return []
    every = list(others)
    user_use = total([old, *(u for who, u in every if who == user)])
    ns_use = total([old, *(u for _, u in every)])
    violations: list[Violation] = []
    for name in sorted(quotas):
        spec = quotas[name]
        violations += check(
            spec.per_user,
            scope=f'user "{user}"',
            quota=name,
            in_use=user_use,
            requested=requested,
        )
        violations += check(
            spec.per_namespace,
            scope=f'namespace "{namespace}"',
            quota=name,
            in_use=ns_use,
            requested=requested,
        )
    return violations
