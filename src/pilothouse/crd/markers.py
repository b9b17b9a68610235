"""Markers: the Kubernetes schema extensions a Python type cannot express by itself.

What ``// +kubebuilder:...`` comments do for Go types and ``#[schemars(...)]`` attributes for
kube-rs, these do for pydantic models. Each marker is a :class:`SchemaExtra` and can be used
two ways:

* as ``Annotated`` metadata on a field's type, applying to that field only::

      ports: Annotated[list[Port], crd.list_type("map", keys=["name"])]

* as a class decorator on a model, applying wherever the model is used::

      @crd.validations("self.min <= self.max", message="min must not exceed max")
      class Range(crd.Model): ...

Ready-made annotated types cover the common cases: :data:`IntOrString`,
:data:`PreserveUnknownFields` (a free-form object) and :data:`EmbeddedResource` (a whole
Kubernetes object, such as a template).

Caveats: CEL rules are compiled by the API server, not here -- a typo in a rule surfaces
when the CRD is applied. The server also estimates each rule's cost, and rejects rules over
unbounded lists, maps or strings: bound them (``max_length=``) as you would in Go.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from .errors import CRDError

__all__ = [
    "EmbeddedResource",
    "IntOrString",
    "PreserveUnknownFields",
    "SchemaExtra",
    "embedded_resource",
    "list_type",
    "map_type",
    "merge_keywords",
    "preserve_unknown_fields",
    "validations",
]

_M = TypeVar("_M", bound=type[BaseModel])

#: Keywords whose values accumulate when schemas are merged rather than being replaced: a
#: rule on a model and a rule on the field using it both apply.
_ACCUMULATING = ("x-kubernetes-validations",)


def merge_keywords(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` overlaid with ``extra``; validation rules from both are kept."""
    out = dict(base)
    for key, value in extra.items():
        if key in _ACCUMULATING and key in out:
            out[key] = [*out[key], *(r for r in value if r not in out[key])]
        else:
            out[key] = value
    return out


class SchemaExtra:
    """Keywords merged into the JSON schema of the annotated type or decorated model.

    Immutable and hashable (``Annotated`` metadata may end up in caches). Usable directly
    for extensions this module has no helper for::

        Annotated[dict[str, str], crd.SchemaExtra({"x-kubernetes-map-type": "atomic"})]
    """

    __slots__ = ("_frozen", "_values")

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)
        self._frozen = json.dumps(self._values, sort_keys=True, default=repr)

    @property
    def values(self) -> dict[str, Any]:
        """A copy of the keywords."""
        return copy.deepcopy(self._values)

    def __repr__(self) -> str:
        return f"SchemaExtra({self._values!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SchemaExtra) and other._frozen == self._frozen

    def __hash__(self) -> int:
        return hash(self._frozen)

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # The handler may return a bare {"$ref": ...}; the keywords sit next to it and are
        # merged over the referenced definition when refs are inlined (pilothouse.crd.schema).
        return merge_keywords(handler(core_schema), self.values)

    def __call__(self, cls: _M) -> _M:
        """Class decorator form: the keywords become part of the model's own schema.

        Implemented through ``model_config["json_schema_extra"]`` so that the model's plain
        ``model_json_schema()`` shows them too; an existing ``json_schema_extra`` is kept.
        Subclasses inherit the keywords, as they inherit the model's fields.
        """
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            raise TypeError(f"{self!r} decorates pydantic models, not {cls!r}")
        previous: Any = cls.model_config.get("json_schema_extra")
        values = self.values

        def extra(schema: dict[str, Any], model: type[Any]) -> None:
            if callable(previous):
                if len(inspect.signature(previous).parameters) > 1:
                    previous(schema, model)
                else:
                    previous(schema)
            elif previous is not None:
                schema.update(previous)
            merged = merge_keywords(schema, values)
            schema.clear()
            schema.update(merged)

        cls.model_config["json_schema_extra"] = extra
        return cls


_REASONS = ("FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate")


def validations(
    rule: str,
    message: str | None = None,
    *,
    message_expression: str | None = None,
    reason: str | None = None,
    field_path: str | None = None,
    optional_old_self: bool | None = None,
) -> SchemaExtra:
    """A CEL validation rule (``x-kubernetes-validations``), like kubebuilder's
    ``+kubebuilder:validation:XValidation``.

    ``self`` is the value of the annotated field or model, ``oldSelf`` its previous value
    (a *transition rule*, evaluated on updates only unless ``optional_old_self``). Stack
    several markers for several rules; they all apply.
    """
    if not rule.strip():
        raise CRDError("a validation rule must not be empty")
    if message is not None and (not message.strip() or "\n" in message):
        raise CRDError(f"validation message {message!r} must be non-blank and on one line")
    if reason is not None and reason not in _REASONS:
        raise CRDError(f"validation reason {reason!r} must be one of {', '.join(_REASONS)}")
    if field_path is not None and not field_path.startswith((".", "[")):
        raise CRDError(f"validation field_path {field_path!r} must start with '.' or '['")
    entry: dict[str, Any] = {"rule": rule}
    for key, value in (
        ("message", message),
        ("messageExpression", message_expression),
        ("reason", reason),
        ("fieldPath", field_path),
        ("optionalOldSelf", optional_old_self),
    ):
        if value is not None:
            entry[key] = value
    return SchemaExtra({"x-kubernetes-validations": [entry]})


def list_type(kind: Literal["atomic", "set", "map"], *, keys: Sequence[str] = ()) -> SchemaExtra:
    """How server-side apply merges a list (``+listType``, ``+listMapKey``).

    ``atomic`` (the default for lists): one owner replaces the whole list; ``set``: items
    are unique scalars, merged by value; ``map``: items are objects merged by ``keys``,
    which must name required (or defaulted) scalar fields of the item.
    """
    if kind not in ("atomic", "set", "map"):
        raise CRDError(f"list type {kind!r} must be 'atomic', 'set' or 'map'")
    if isinstance(keys, str):
        keys = [keys]
    if (kind == "map") != bool(keys):
        raise CRDError("list_type('map') needs keys=[...], and only it takes keys")
    values: dict[str, Any] = {"x-kubernetes-list-type": kind}
    if keys:
        values["x-kubernetes-list-map-keys"] = list(keys)
    return SchemaExtra(values)


def map_type(kind: Literal["atomic", "granular"]) -> SchemaExtra:
    """How server-side apply merges an object or map (``+mapType``/``+structType``):
    ``granular`` (the default) per key, ``atomic`` as a whole."""
    if kind not in ("atomic", "granular"):
        raise CRDError(f"map type {kind!r} must be 'atomic' or 'granular'")
    return SchemaExtra({"x-kubernetes-map-type": kind})


#: Keep fields the schema does not declare (``+kubebuilder:pruning:PreserveUnknownFields``).
#: On a model: its declared fields are still validated, others are stored as sent.
preserve_unknown_fields = SchemaExtra({"x-kubernetes-preserve-unknown-fields": True})

#: The value is a whole Kubernetes object (``apiVersion``, ``kind``, ``metadata``), validated
#: as one (``+kubebuilder:validation:EmbeddedResource``).
embedded_resource = SchemaExtra({"x-kubernetes-embedded-resource": True})

#: An integer or a string, like kube's ``intstr.IntOrString`` (ports, ``maxSurge: 25%``).
IntOrString = Annotated[int | str, SchemaExtra({"x-kubernetes-int-or-string": True})]

#: A free-form JSON object stored as sent (``runtime.RawExtension``-like configuration).
PreserveUnknownFields = Annotated[
    dict[str, Any],
    SchemaExtra({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]

#: A complete Kubernetes object of any kind, e.g. a template the operator creates verbatim.
EmbeddedResource = Annotated[
    dict[str, Any],
    SchemaExtra(
        {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]
