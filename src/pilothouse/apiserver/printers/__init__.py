"""Server-side columns of built-in kinds, as kube-apiserver prints them for ``kubectl get``.

A port of ``k8s.io/kubernetes/pkg/printers/internalversion/printers.go`` (plus the
kube-aggregator APIService convertor): for each ``(group, resource)`` a :class:`Printer`
holds the column definitions and a function from one stored object to its cells.
:mod:`pilothouse.apiserver.tables` assembles the ``meta.k8s.io/v1`` Table; resources without
a printer get upstream's default convertor there (``Name``, ``Created At``).

The package is laid out by concern: :mod:`.registry` (columns, printers, the lookup table),
:mod:`.format` (durations, ages, labels, selectors), :mod:`.reading` (tolerant JSON
accessors), and one module per family of kinds that registers its printers on import
(:mod:`.pods`, :mod:`.workloads`, :mod:`.batch`, :mod:`.scaling`, :mod:`.core`,
:mod:`.network`, :mod:`.storage`, :mod:`.cluster`). Importing this package imports them all.

Design choices:

* The server always prints in wide mode (upstream's table convertor passes ``Wide: true``);
  priority-1 columns are part of every row and ``kubectl`` hides them unless ``-o wide``.
* Printers read the versioned JSON we store, not Go's internal types. Where upstream relies on
  v1 defaulting having filled a field (``replicas``, ``suspend``, ``type``, ``protocol``) the
  printer assumes the defaulted value, so an object the real server would have defaulted
  prints the same.
* Cell values keep upstream's Go types: ``int64`` cells are ints, strings stay strings even
  under a ``boolean`` column when upstream prints ``"True"``.
* Column descriptions that upstream takes from generated Swagger docs are read from the
  OpenAPI definitions of the emulated release (same source text), lazily and once.
* Ages are relative to the caller's ``now`` (the server clock), never the wall clock, so
  tests and simulated time agree; quantities print as stored.
"""

from __future__ import annotations

# The kind modules register their printers on import.
from pilothouse.apiserver.printers import (
    batch,
    cluster,
    core,
    network,
    pods,
    scaling,
    storage,
    workloads,
)
from pilothouse.apiserver.printers.format import (
    age,
    format_labels,
    format_selector,
    human_duration,
    parse_time,
    selector_string,
    since,
)
from pilothouse.apiserver.printers.registry import (
    AGE,
    CREATED_AT,
    NAME,
    Cells,
    Column,
    Printer,
    printed_resources,
    printer_for,
    register,
)

__all__ = [
    "AGE",
    "CREATED_AT",
    "NAME",
    "Cells",
    "Column",
    "Printer",
    "age",
    "batch",
    "cluster",
    "core",
    "format_labels",
    "format_selector",
    "human_duration",
    "network",
    "parse_time",
    "pods",
    "printed_resources",
    "printer_for",
    "register",
    "scaling",
    "selector_string",
    "since",
    "storage",
    "workloads",
]
