"""``meta.k8s.io/v1`` Tables: what the server answers to ``Accept: ...;as=Table``.

``kubectl get`` asks for this representation and only lays out the cells, so the columns
and cell values must be the real server's. Three convertors, chosen as kube-apiserver does:

* custom resources: the apiextensions table convertor -- ``Name`` then the served version's
  ``additionalPrinterColumns`` (or a single ``Age`` date column when it declares none),
  each evaluated with the client-go JSONPath dialect (:mod:`pilothouse.api.jsonpath`);
* built-in resources with a printer in :mod:`pilothouse.apiserver.printers`;
* everything else (roles, CRDs, limit ranges, ...): the generic default convertor, ``Name``
  and ``Created At`` (an RFC 3339 timestamp).

Rows embed the object the way the request's ``includeObject`` asks: a
``PartialObjectMetadata`` by default, the full object for ``Object``, nothing (``null``) for
``None``. Rows hold copies, so callers may keep mutating their objects.

Design choice: ``now`` is a parameter (the server clock) rather than read here, so ages in
tables follow the same clock as the timestamps the server writes, including in tests.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pilothouse.api import jsonpath
from pilothouse.apiserver import errors, printers, resources

Row = Callable[[Mapping[str, Any], dt.datetime], list[Any]]

_CREATED = ".metadata.creationTimestamp"

_INCLUDE = ("Metadata", "", "Object", "None")


def to_table(
    rt: resources.ResourceType,
    objects: Sequence[Mapping[str, Any]],
    *,
    include_object: str = "Metadata",
    list_meta: Mapping[str, Any] | None = None,
    now: dt.datetime,
    no_headers: bool = False,
) -> dict[str, Any]:
    """The Table for ``objects`` of type ``rt``.

    ``list_meta`` is the list's metadata when converting a list response (its
    ``resourceVersion``, ``continue`` and ``remainingItemCount`` carry over); leave it None
    for a single object, whose ``resourceVersion`` then becomes the table's.
    ``no_headers`` drops the column definitions (``TableOptions.noHeaders``; they become
    ``null``). An unknown ``include_object`` is a 400, as upstream.
    """
    if include_object not in _INCLUDE:
        raise errors.bad_request(f"unrecognized includeObject value: {json.dumps(include_object)}")
    columns, cells, conditions = _convertor(rt)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(obj, now)}
        row_conditions = conditions(obj) if conditions is not None else []
        if row_conditions:
            row["conditions"] = row_conditions
        row["object"] = _embedded(obj, include_object)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": _table_meta(objects, list_meta),
        "columnDefinitions": None if no_headers else columns,
        "rows": rows,
    }


def _table_meta(
    objects: Sequence[Mapping[str, Any]], list_meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    source: Mapping[str, Any] = {}
    if list_meta is not None:
        source = list_meta
    elif len(objects) == 1 and isinstance(objects[0].get("metadata"), Mapping):
        source = {"resourceVersion": objects[0]["metadata"].get("resourceVersion")}
    # ListMeta's fields are omitempty; remainingItemCount is a pointer, so 0 is kept.
    meta = {k: source[k] for k in ("resourceVersion", "continue") if source.get(k)}
    if source.get("remainingItemCount") is not None:
        meta["remainingItemCount"] = source["remainingItemCount"]
    return meta


def _embedded(obj: Mapping[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return copy.deepcopy(dict(obj))
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": copy.deepcopy(obj.get("metadata") or {}),
    }


def _convertor(
    rt: resources.ResourceType,
) -> tuple[list[dict[str, Any]], Row, Callable[[Mapping[str, Any]], list[dict[str, str]]] | None]:
    if rt.crd_version is not None:
        columns, row = _crd_convertor(rt.crd_version)
        return columns, row, None
    printer = printers.printer_for(rt.group, rt.plural)
    if printer is not None:
        return [c.definition() for c in printer.columns], printer.cells, printer.conditions
    return [printers.NAME.definition(), printers.CREATED_AT.definition()], _default_row, None


# -- the default convertor (k8s.io/apiserver/pkg/registry/rest/table.go) --------------------


def _default_row(obj: Mapping[str, Any], now: dt.datetime) -> list[Any]:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    created = printers.parse_time(meta.get("creationTimestamp"))
    if created is None:
        stamp = "0001-01-01T00:00:00Z"  # Go's zero time
    else:
        utc = created.astimezone(dt.UTC)
        stamp = f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"
    return [meta.get("name", ""), stamp]


# -- custom resources (apiextensions tableconvertor) ----------------------------------------


@functools.lru_cache(maxsize=1024)
def _compile(path: str) -> jsonpath.JsonPath | None:
    # Upstream wraps the column's path in braces and parses it as a template.
    try:
        return jsonpath.parse_template("{" + path + "}")
    except jsonpath.JsonPathError:
        return None


def _crd_convertor(version: Mapping[str, Any]) -> tuple[list[dict[str, Any]], Row]:
    specs = version.get("additionalPrinterColumns")
    if not isinstance(specs, list) or not specs:
        # apiextensions' serveDefaultColumnsIfEmpty.
        age = printers.AGE.definition()["description"]
        specs = [{"name": "Age", "type": "date", "description": age, "jsonPath": _CREATED}]
    columns = [printers.NAME.definition()]
    evaluators: list[tuple[jsonpath.JsonPath, str]] = []
    for spec in specs:
        if not isinstance(spec, Mapping):
            break
        path_text = str(spec.get("jsonPath", ""))
        path = _compile(path_text)
        if path is None:
            break  # upstream keeps the columns parsed before an invalid one
        col_type = str(spec.get("type", ""))
        description = spec.get("description") or (
            "Custom resource definition column (in JSONPath format): " + path_text
        )
        columns.append(
            {
                "name": spec.get("name", ""),
                "type": col_type,
                "format": spec.get("format", ""),
                "description": description,
                "priority": spec.get("priority", 0),
            }
        )
        evaluators.append((path, col_type))

    def row(obj: Mapping[str, Any], now: dt.datetime) -> list[Any]:
        meta = obj.get("metadata")
        name = meta.get("name", "") if isinstance(meta, Mapping) else ""
        return [name, *(_crd_cell(path, col_type, obj, now) for path, col_type in evaluators)]

    return columns, row


def _crd_cell(path: jsonpath.JsonPath, col_type: str, obj: Any, now: dt.datetime) -> Any:
    try:
        results = path.find_results(obj)
    except jsonpath.JsonPathError:
        return None
    if not results or not results[0]:
        return None
    value = results[0][0]  # "simple" paths: only the first match counts
    if col_type == "string":
        # Printed like `kubectl -o jsonpath`; a JSON null prints as Go's "<no value>".
        return "<no value>" if value is None else jsonpath.format_value(value)
    return _typed_cell(col_type, value, now)


def _typed_cell(col_type: str, value: Any, now: dt.datetime) -> Any:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if col_type == "integer" and is_number:
        return int(value)  # float64 -> int64 truncates toward zero
    if col_type == "number" and is_number:
        return float(value)
    if col_type == "boolean" and isinstance(value, bool):
        return value
    if col_type == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        when = printers.parse_time(value)
        return "<invalid>" if when is None else printers.since(value, now)
    return None
