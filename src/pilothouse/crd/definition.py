"""One CustomResourceDefinition from the classes of its versions: :func:`definition`.

Guarantees (or a :class:`~pilothouse.crd.CRDError` saying what to fix):

* all classes declare the same group and kind, distinct versions, exactly one of them
  ``storage=True``, and agree on the names (plural, singular, scope; short names and
  categories may be declared on one version only);
* versions are listed in kube's priority order (``v2``, ``v1``, ``v1beta1``...), so the
  output is stable whatever order the classes are passed in;
* the status subresource is enabled exactly when a version declares a ``status`` field;
* printer columns, scale paths and selectable fields name fields the schema declares (a
  typo such as ``.spec.replica`` would otherwise show an empty column on a real cluster),
  scale replicas are integers, the label selector a string, selectable fields scalars.
  Paths under ``.metadata`` and paths with brackets are taken on trust.

Conversion between versions is ``None`` (kube's default: only ``apiVersion`` changes)
unless a :class:`~pilothouse.crd.Webhook` is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import CRDError
from .names import version_sort_key
from .options import ResourceOptions, Webhook
from .schema import openapi_schema

if TYPE_CHECKING:
    from .model import CustomResource

__all__ = ["definition"]


def definition(*models: type[CustomResource], conversion: Webhook | None = None) -> dict[str, Any]:
    """The ``apiextensions.k8s.io/v1`` CRD serving ``models``, one class per version."""
    if not models:
        raise CRDError("definition() needs at least one CustomResource class")
    pairs = [(m, m.crd_options()) for m in dict.fromkeys(models)]
    first = pairs[0][1]
    for model, o in pairs:
        if (o.group, o.kind) != (first.group, first.kind):
            raise CRDError(
                f"{model.__name__} is {o.kind}.{o.group}, not {first.kind}.{first.group}: a "
                "CRD serves one group and kind"
            )
    seen: dict[str, str] = {}
    for model, o in pairs:
        if o.version in seen:
            raise CRDError(f"{seen[o.version]} and {model.__name__} both declare {o.version}")
        seen[o.version] = model.__name__
    storage = [model.__name__ for model, o in pairs if o.storage]
    if len(storage) != 1:
        raise CRDError(
            f"exactly one version of {first.kind}.{first.group} must have storage=True, "
            f"not {len(storage)} ({', '.join(storage) or 'none'})"
        )
    names = _names([o for _, o in pairs])
    pairs.sort(key=lambda p: version_sort_key(p[1].version))
    spec: dict[str, Any] = {
        "group": first.group,
        "names": names,
        "scope": _agreed([o for _, o in pairs], "scope"),
        "versions": [_version(model, o) for model, o in pairs],
    }
    if conversion is not None:
        spec["conversion"] = conversion.to_dict()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": first.crd_name},
        "spec": spec,
    }


def _agreed(options: Sequence[ResourceOptions], attr: str, optional: bool = False) -> Any:
    """The one value of ``attr`` all versions declare (empty ones ignored if ``optional``)."""
    values = list(dict.fromkeys(getattr(o, attr) for o in options))
    if optional:
        values = [v for v in values if v] or [()]
    if len(values) > 1:
        shown = ", ".join(f"{o.version}: {getattr(o, attr)!r}" for o in options)
        raise CRDError(f"the versions of {options[0].kind} disagree on {attr} ({shown})")
    return values[0]


def _names(options: Sequence[ResourceOptions]) -> dict[str, Any]:
    o = options[0]
    names: dict[str, Any] = {
        "kind": o.kind,
        "listKind": o.list_kind,
        "plural": _agreed(options, "plural"),
        "singular": _agreed(options, "singular"),
    }
    if short := _agreed(options, "short_names", optional=True):
        names["shortNames"] = list(short)
    if categories := _agreed(options, "categories", optional=True):
        names["categories"] = list(categories)
    return names


def _version(model: type[CustomResource], o: ResourceOptions) -> dict[str, Any]:
    schema = openapi_schema(model)
    out: dict[str, Any] = {"name": o.version, "served": o.served, "storage": o.storage}
    if o.deprecated:
        out["deprecated"] = True
        if o.deprecation_warning:
            out["deprecationWarning"] = o.deprecation_warning
    out["schema"] = {"openAPIV3Schema": schema}
    subresources: dict[str, Any] = {}
    if "status" in model.model_fields:
        subresources["status"] = {}
    if o.scale is not None:
        where = f"{model.__name__}: scale"
        _check(schema, o.scale.spec_replicas_path, ("integer",), f"{where} spec_replicas_path")
        _check(schema, o.scale.status_replicas_path, ("integer",), f"{where} status_replicas_path")
        if o.scale.label_selector_path:
            _check(schema, o.scale.label_selector_path, ("string",), f"{where} label_selector_path")
        subresources["scale"] = o.scale.to_dict()
    if subresources:
        out["subresources"] = subresources
    for column in o.printer_columns:
        _check(schema, column.json_path, None, f"{model.__name__}: printer column {column.name!r}")
    if o.printer_columns:
        out["additionalPrinterColumns"] = [c.to_dict() for c in o.printer_columns]
    for path in o.selectable_fields:
        scalars = ("string", "integer", "boolean")
        _check(schema, path, scalars, f"{model.__name__}: selectable field")
    if o.selectable_fields:
        out["selectableFields"] = [{"jsonPath": p} for p in o.selectable_fields]
    return out


def _check(schema: Mapping[str, Any], path: str, types: tuple[str, ...] | None, what: str) -> None:
    """Raise unless the simple ``path`` names a declared field of one of ``types``."""
    if path.startswith(".metadata.") or "[" in path or "*" in path:
        return
    node: Mapping[str, Any] = schema
    for part in path.lstrip(".").split("."):
        props = node.get("properties") or {}
        if part not in props:
            if node.get("x-kubernetes-preserve-unknown-fields") and not props:
                return  # free-form below here: cannot be checked
            raise CRDError(f"{what} {path!r}: the schema declares no field {part!r} there")
        node = props[part]
    if types is not None:
        kind = "int-or-string" if node.get("x-kubernetes-int-or-string") else node.get("type")
        if kind not in types:
            raise CRDError(f"{what} {path!r} must be of type {' or '.join(types)}, not {kind}")
