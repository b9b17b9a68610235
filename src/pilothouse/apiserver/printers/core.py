"""Printers of core configuration kinds and events: ConfigMaps, Secrets, ServiceAccounts,
Namespaces, and Events of both ``v1`` and ``events.k8s.io/v1``.

Design choice: ``events.k8s.io/v1`` Events are the same stored objects under other field
names; they are renamed to the core shape and printed by the one core printer, as upstream
converts them before printing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.printers.format import age, parse_time, since
from pilothouse.apiserver.printers.reading import Obj, as_int, as_str, list_at, map_at, name_of
from pilothouse.apiserver.printers.registry import (
    AGE,
    NAME,
    column,
    register,
    register_simple,
    wide,
)

register_simple(
    "",
    "configmaps",
    column("Data", ("core.v1.ConfigMap", "data")),
    lambda o: len(map_at(o, "data")) + len(map_at(o, "binaryData")),
)
register_simple(
    "",
    "namespaces",
    column("Status", "The status of the namespace"),
    lambda o: as_str(map_at(o, "status").get("phase")),
)
register_simple(
    "",
    "serviceaccounts",
    column("Secrets", ("core.v1.ServiceAccount", "secrets")),
    lambda o: len(list_at(o, "secrets")),
)


@register(
    "",
    "secrets",
    NAME,
    column("Type", ("core.v1.Secret", "type")),
    column("Data", ("core.v1.Secret", "data")),
    AGE,
)
def _secret(obj: Obj, now: dt.datetime) -> list[Any]:
    return [
        name_of(obj),
        as_str(obj.get("type"), "Opaque"),
        len(map_at(obj, "data")),
        age(obj, now),
    ]


_EVENT = "core.v1.Event"
_EVENT_COLUMNS = (
    column("Last Seen", (_EVENT, "lastTimestamp")),
    column("Type", (_EVENT, "type")),
    column("Reason", (_EVENT, "reason")),
    column("Object", (_EVENT, "involvedObject")),
    wide("Subobject", ("core.v1.ObjectReference", "fieldPath")),
    wide("Source", (_EVENT, "source")),
    column("Message", (_EVENT, "message")),
    wide("First Seen", (_EVENT, "firstTimestamp")),
    wide("Count", (_EVENT, "count")),
    dataclasses.replace(NAME, priority=1),
)


@register("", "events", *_EVENT_COLUMNS)
def _event(obj: Obj, now: dt.datetime) -> list[Any]:
    first = since(obj.get("firstTimestamp"), now)
    if parse_time(obj.get("firstTimestamp")) is None:
        first = since(obj.get("eventTime"), now)
    last = since(obj.get("lastTimestamp"), now)
    if parse_time(obj.get("lastTimestamp")) is None:
        last = first
    count = as_int(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, Mapping):
        last, count = since(series.get("lastObservedTime"), now), as_int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = map_at(obj, "involvedObject")
    target = as_str(involved.get("kind")).lower()
    if as_str(involved.get("name")):
        target += "/" + as_str(involved["name"])
    source = map_at(obj, "source")
    component = as_str(source.get("component")) or as_str(obj.get("reportingComponent"))
    instance = as_str(source.get("host")) or as_str(obj.get("reportingInstance"))
    return [
        last,
        as_str(obj.get("type")),
        as_str(obj.get("reason")),
        target,
        as_str(involved.get("fieldPath")),
        f"{component}, {instance}" if instance else component,
        as_str(obj.get("message")).strip(),
        first,
        count,
        name_of(obj),
    ]


@register("events.k8s.io", "events", *_EVENT_COLUMNS)
def _events_v1(obj: Obj, now: dt.datetime) -> list[Any]:
    # events.k8s.io/v1 is the same storage; upstream converts to the core shape to print.
    renamed = {
        "regarding": "involvedObject",
        "note": "message",
        "deprecatedSource": "source",
        "deprecatedFirstTimestamp": "firstTimestamp",
        "deprecatedLastTimestamp": "lastTimestamp",
        "deprecatedCount": "count",
        "reportingController": "reportingComponent",
    }
    return _event({renamed.get(k, k): v for k, v in obj.items()}, now)
