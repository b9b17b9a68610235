"""Which fields each resource can be selected by, and the values objects have for them.

kube-apiserver splits field selection in two, and so does this module:

* **Label conversion** (``scheme.ConvertFieldLabel``): which names a client may put in
  ``fieldSelector``, what they are renamed to, and the error for anything else.
  :func:`field_labels` returns a :class:`FieldLabels` per ``resource[.group]``; run it over
  a parsed selector with ``parse(s).transform(field_labels(gr).convert)`` and report a
  :class:`FieldLabelError` as ``400 BadRequest`` with its message. The messages differ per
  kind exactly as upstream's do: ``field label not supported: X`` for kinds with their own
  conversion, ``"X" is not a known field selector: only "metadata.name",
  "metadata.namespace"`` for every other built-in, ``field label "X" not supported for Job``
  for jobs.
* **Field sets** (each registry's ``GetAttrs``/``ToSelectableFields``): :func:`field_set`
  gives an object's values, formatted like Go (``"true"``, ``"0"`` for an unset counter).

The tables follow the real server, including its inconsistencies, rather than the docs:
``replicasets.apps`` *computes* ``status.replicas`` but apps/v1 registers no conversion, so
selecting on it is rejected (kubernetes/kubernetes#135136); pods *accept*
``status.podIPs`` but never compute it, so it compares as ``""``; nodes, namespaces and CSRs
do not accept ``metadata.namespace`` while other cluster-scoped built-ins do. Aliases
(pods' legacy ``spec.host``, events.k8s.io's ``regarding.*``/``reportingController``) are
also present in :func:`field_set` under their alias names, so matching works whether or not
the caller transformed the selector first.

Custom resources accept ``metadata.name``, ``metadata.namespace`` when namespaced, and the
CRD version's ``selectableFields``: see :func:`crd_field_labels` and :func:`crd_field_set`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pilothouse.api.validation import go_quote, go_sprint

__all__ = [
    "KINDS_WITH_FIELDS",
    "FieldLabelError",
    "FieldLabels",
    "crd_field_labels",
    "crd_field_set",
    "field_labels",
    "field_set",
    "supported_fields",
]

_NAME = "metadata.name"
_NAMESPACE = "metadata.namespace"


class FieldLabelError(ValueError):
    """A field selector names a field the resource cannot be selected by."""


def _not_supported(label: str) -> str:
    return f"field label not supported: {label}"


def _not_known(label: str) -> str:
    # runtime.DefaultMetaV1FieldSelectorConversion
    return f'{go_quote(label)} is not a known field selector: only "{_NAME}", "{_NAMESPACE}"'


def _not_supported_for_job(label: str) -> str:
    return f"field label {go_quote(label)} not supported for Job"


@dataclass(frozen=True)
class FieldLabels:
    """One resource's field label conversion: accepted label -> field-set key."""

    accepted: Mapping[str, str]
    reject: Callable[[str], str]

    @property
    def supported(self) -> frozenset[str]:
        """Every label a client may use (aliases included)."""
        return frozenset(self.accepted)

    def convert(self, label: str, value: str) -> tuple[str, str]:
        """The ``(label, value)`` pair to match with; raises :class:`FieldLabelError`."""
        try:
            return self.accepted[label], value
        except KeyError:
            raise FieldLabelError(self.reject(label)) from None


def _labels(
    *names: str,
    aliases: Mapping[str, str] | None = None,
    reject: Callable[[str], str] = _not_supported,
) -> FieldLabels:
    accepted = {name: name for name in names}
    accepted.update(aliases or {})
    return FieldLabels(MappingProxyType(accepted), reject)


_INVOLVED = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
_EVENT_FIELDS = (
    *(f"involvedObject.{part}" for part in _INVOLVED),
    "reason",
    "reportingComponent",
    "source",
    "type",
)

_BUILTIN: Mapping[str, FieldLabels] = {
    "pods": _labels(
        _NAME,
        _NAMESPACE,
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
        # Old v1 clients still send spec.host.
        aliases={"spec.host": "spec.nodeName"},
    ),
    "nodes": _labels(_NAME, "spec.unschedulable"),
    "replicationcontrollers": _labels(_NAME, _NAMESPACE, "status.replicas"),
    "events": _labels(_NAME, _NAMESPACE, *_EVENT_FIELDS),
    "namespaces": _labels(_NAME, "status.phase"),
    "secrets": _labels(_NAME, _NAMESPACE, "type"),
    "services": _labels(_NAME, _NAMESPACE, "spec.clusterIP", "spec.type"),
    "jobs.batch": _labels(_NAME, _NAMESPACE, "status.successful", reject=_not_supported_for_job),
    "certificatesigningrequests.certificates.k8s.io": _labels(_NAME, "spec.signerName"),
    # events.k8s.io shares the core Event field set under the core names.
    "events.events.k8s.io": _labels(
        _NAME,
        _NAMESPACE,
        "reason",
        "source",
        "type",
        aliases={
            **{f"regarding.{part}": f"involvedObject.{part}" for part in _INVOLVED},
            "reportingController": "reportingComponent",
        },
    ),
}
_DEFAULT = _labels(_NAME, _NAMESPACE, reject=_not_known)


def field_labels(group_resource: str) -> FieldLabels:
    """The label conversion of a built-in ``resource[.group]`` (not for custom resources)."""
    return _BUILTIN.get(group_resource, _DEFAULT)


def supported_fields(group_resource: str) -> frozenset[str]:
    """The field selector labels a built-in resource accepts."""
    return field_labels(group_resource).supported


# --- field sets -----------------------------------------------------------------------------


def _get(obj: object, *path: str) -> Any:
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _bool(value: object) -> str:
    # strconv.FormatBool of a Go bool: unset is false.
    return "true" if value is True else "false"


def _int(value: object) -> str:
    # strconv.Itoa of a Go int32: unset is 0.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _pod(obj: Mapping[str, Any]) -> dict[str, str]:
    # The internal pod keeps podIPs only; a v1 podIP alone is converted into podIPs[0].
    pod_ips = _get(obj, "status", "podIPs")
    if isinstance(pod_ips, list) and pod_ips:
        pod_ip = _str(_get(pod_ips[0], "ip"))
    else:
        pod_ip = _str(_get(obj, "status", "podIP"))
    return {
        "spec.nodeName": _str(_get(obj, "spec", "nodeName")),
        "spec.restartPolicy": _str(_get(obj, "spec", "restartPolicy")),
        "spec.schedulerName": _str(_get(obj, "spec", "schedulerName")),
        "spec.serviceAccountName": _str(_get(obj, "spec", "serviceAccountName")),
        "spec.hostNetwork": _bool(_get(obj, "spec", "hostNetwork")),
        "status.phase": _str(_get(obj, "status", "phase")),
        "status.podIP": pod_ip,
        "status.nominatedNodeName": _str(_get(obj, "status", "nominatedNodeName")),
    }


def _event(obj: Mapping[str, Any]) -> dict[str, str]:
    # Reads both shapes: core/v1 (involvedObject, source, reportingComponent) and
    # events.k8s.io/v1 (regarding, deprecatedSource, reportingController).
    involved = _get(obj, "involvedObject")
    if not isinstance(involved, Mapping):
        involved = _get(obj, "regarding")
    reporting = _str(_get(obj, "reportingComponent")) or _str(_get(obj, "reportingController"))
    source = _get(obj, "source")
    if not isinstance(source, Mapping):
        source = _get(obj, "deprecatedSource")
    fields = {f"involvedObject.{part}": _str(_get(involved, part)) for part in _INVOLVED}
    fields.update(
        {
            "reason": _str(_get(obj, "reason")),
            "reportingComponent": reporting,
            # Events recorded by the events.k8s.io API only have a reporting controller.
            "source": _str(_get(source, "component")) or reporting,
            "type": _str(_get(obj, "type")),
        }
    )
    return fields


_FIELD_SETS: Mapping[str, Callable[[Mapping[str, Any]], dict[str, str]]] = {
    "pods": _pod,
    "nodes": lambda o: {"spec.unschedulable": _bool(_get(o, "spec", "unschedulable"))},
    "replicationcontrollers": lambda o: {"status.replicas": _int(_get(o, "status", "replicas"))},
    "replicasets.apps": lambda o: {"status.replicas": _int(_get(o, "status", "replicas"))},
    "events": _event,
    "events.events.k8s.io": _event,
    "namespaces": lambda o: {"status.phase": _str(_get(o, "status", "phase"))},
    "secrets": lambda o: {"type": _str(_get(o, "type"))},
    "services": lambda o: {
        "spec.clusterIP": _str(_get(o, "spec", "clusterIP")),
        "spec.type": _str(_get(o, "spec", "type")),
    },
    "jobs.batch": lambda o: {"status.successful": _int(_get(o, "status", "succeeded"))},
    "certificatesigningrequests.certificates.k8s.io": lambda o: {
        "spec.signerName": _str(_get(o, "spec", "signerName"))
    },
}


#: Built-in resources whose field set has more than ``metadata.name``/``metadata.namespace``
#: (for every other resource, :func:`field_set` returns just those two).
KINDS_WITH_FIELDS: frozenset[str] = frozenset(_FIELD_SETS)


def _meta_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    # Always both keys: for a cluster-scoped object an absent namespace and "" select alike.
    return {
        _NAME: _str(_get(obj, "metadata", "name")),
        _NAMESPACE: _str(_get(obj, "metadata", "namespace")),
    }


def field_set(group_resource: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable field values of a built-in object (``GetAttrs``), aliases included.

    Labels a kind accepts but never computes (pods' ``status.podIPs``) are absent, which
    :meth:`~pilothouse.api.fields.FieldSelector.matches` treats as ``""``, as Go does.
    """
    fields = _meta_fields(obj)
    extract = _FIELD_SETS.get(group_resource)
    if extract is not None:
        fields.update(extract(obj))
    for label, target in field_labels(group_resource).accepted.items():
        if label != target:
            fields[label] = fields.get(target, "")
    return fields


# --- custom resources -----------------------------------------------------------------------

_PATH_STEP = re.compile(r"""\.([^.\[\]'"]+)|\[(?:'([^']*)'|"([^"]*)")\]""")


def _path_steps(json_path: str) -> list[str]:
    steps: list[str] = []
    pos = 0
    while pos < len(json_path):
        match = _PATH_STEP.match(json_path, pos)
        if match is None:
            raise ValueError(f"unsupported selectable field JSONPath {json_path!r}")
        steps.append(next(group for group in match.groups() if group is not None))
        pos = match.end()
    if not steps:
        raise ValueError(f"unsupported selectable field JSONPath {json_path!r}")
    return steps


def _selectable_name(json_path: str) -> str:
    # The field selector label is the JSONPath without its leading dot: ".spec.color".
    return json_path.removeprefix(".")


def crd_field_labels(selectable_json_paths: Sequence[str], *, namespaced: bool) -> FieldLabels:
    """The label conversion of a custom resource version with the given ``selectableFields``."""
    names = [_NAME] + ([_NAMESPACE] if namespaced else [])
    names += [_selectable_name(path) for path in selectable_json_paths]
    return _labels(*names)


def crd_field_set(obj: Mapping[str, Any], selectable_json_paths: Sequence[str]) -> dict[str, str]:
    """A custom resource's selectable field values.

    Supports the simple paths CRD validation allows (``.spec.color``,
    ``.spec.map['key']``); raises :class:`ValueError` for anything else. An absent value
    (or a path through a non-object) is ``""``; present values are printed with Go's
    ``fmt.Sprint`` (``true``, ``42``).
    """
    fields = _meta_fields(obj)
    for json_path in selectable_json_paths:
        value = _get(obj, *_path_steps(json_path))
        fields[_selectable_name(json_path)] = "" if value is None else go_sprint(value)
    return fields
