"""Go-compatible text for cells: durations and ages, timestamps, quantities, label maps and
label selectors, as ``k8s.io/apimachinery`` formats them.

Design choices:

* Ages are relative to the caller's ``now`` (the server clock), never the wall clock, so
  tests and simulated time agree; a naive ``now`` is taken as UTC.
* Timestamps are parsed by hand (RFC 3339 with optional fractions) rather than with
  ``datetime.fromisoformat``, whose accepted forms differ from ``metav1.Time``'s; a malformed
  timestamp is Go's zero time (``None``), which prints ``<unknown>``.
* Selectors are validated as ``metav1.LabelSelectorAsSelector`` does, so an invalid one
  prints ``<error>`` (or ``<invalid>`` where upstream says so) instead of raising.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, TypeGuard

from pilothouse.apiserver.printers.reading import Obj, as_str, map_at, maps_at

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})"
)


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``: 2-3 significant figures,
    ``"<invalid>"`` for clearly negative durations (2s of clock skew are tolerated)."""
    secs = int(seconds)  # Go truncates toward zero
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        return f"{minutes}m" if secs % 60 == 0 else f"{minutes}m{secs % 60}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, hours // 24 % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp (``metav1.Time``/``MicroTime`` JSON) as an aware datetime;
    None for a missing, null or malformed value (Go's zero time)."""
    m = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    offset = dt.timedelta(0)
    if zone != "Z":
        offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        offset = -offset if zone[0] == "-" else offset
    try:
        return dt.datetime(year, month, day, hour, minute, second, micros, dt.timezone(offset))
    except ValueError:
        return None


def aware(now: dt.datetime) -> dt.datetime:
    """``now`` with UTC assumed when it is naive."""
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)


def since(timestamp: Any, now: dt.datetime) -> str:
    """Upstream ``translateTimestampSince``: the age of a timestamp, ``<unknown>`` if unset."""
    t = parse_time(timestamp)
    if t is None:
        return "<unknown>"
    return human_duration((aware(now) - t).total_seconds())


def age(obj: Obj, now: dt.datetime) -> str:
    """The ``Age`` cell: time since ``metadata.creationTimestamp``."""
    return since(map_at(obj, "metadata").get("creationTimestamp"), now)


def format_containers(pod_spec: Any) -> list[str]:
    """The ``Containers`` and ``Images`` cells of a pod spec: comma-separated names, images."""
    containers = maps_at(pod_spec, "containers")
    names = ",".join(as_str(c.get("name")) for c in containers)
    images = ",".join(as_str(c.get("image")) for c in containers)
    return [names, images]


def quantity(value: Any) -> str:
    """A ``resource.Quantity`` cell: as stored, ``0`` when unset."""
    # resource.Quantity's String() of the zero value; stored quantities print as stored.
    return str(value) if isinstance(value, str | int | float) else "0"


def int_or_string(value: Any) -> str:
    """An ``IntOrString`` cell: as stored, ``""`` when unset."""
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""


_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _valid_key(key: Any) -> TypeGuard[str]:
    if not isinstance(key, str):
        return False
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        return False
    return len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def _valid_value(value: Any) -> bool:
    return isinstance(value, str) and (
        value == "" or (len(value) <= 63 and _LABEL_NAME.fullmatch(value) is not None)
    )


def format_labels(labels: Any) -> str:
    """``labels.FormatLabels``: ``k=v`` sorted by key, ``<none>`` when empty."""
    pairs = sorted(labels.items()) if isinstance(labels, Mapping) else []
    return ",".join(f"{k}={v}" for k, v in pairs) or "<none>"


def selector_string(selector: Any) -> str | None:
    """``metav1.LabelSelectorAsSelector(sel).String()``; None when the selector is invalid
    (upstream's conversion error). A missing or empty selector is ``""``."""
    if not isinstance(selector, Mapping):
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in map_at(selector, "matchLabels").items():
        if not _valid_key(key) or not _valid_value(value):
            return None
        reqs.append((key, f"{key}={value}"))
    for expr in maps_at(selector, "matchExpressions"):
        ekey, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if not _valid_key(ekey) or not isinstance(values, list):
            return None
        if op in ("In", "NotIn"):
            if not values or not all(_valid_value(v) for v in values):
                return None
            shown = values[0] if len(values) == 1 else ",".join(sorted(values))
            reqs.append((ekey, f"{ekey} {op.lower()} ({shown})"))
        elif op in ("Exists", "DoesNotExist") and not values:
            reqs.append((ekey, ekey if op == "Exists" else f"!{ekey}"))
        else:
            return None
    return ",".join(text for _, text in sorted(reqs, key=lambda r: r[0]))


def format_selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: ``<none>`` when empty, ``<error>`` when invalid."""
    text = selector_string(selector)
    return "<error>" if text is None else text or "<none>"
