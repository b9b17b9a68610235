"""pydantic models → Kubernetes structural schemas (``openAPIV3Schema``).

:func:`openapi_schema` is the schema of one :class:`~pilothouse.crd.CustomResource` version;
:func:`structural_schema` that of any model. Both start from pydantic's own JSON schema
(serialization mode, by alias: the schema describes exactly what ``to_object()`` sends) and
rewrite it into the OpenAPI v3 subset kube accepts for CRDs.

Guarantees (or a :class:`~pilothouse.crd.SchemaError` naming the field):

* **Structural**: no ``$ref``/``$defs`` (every reference is inlined; a recursive type is an
  error -- type the recursive field as ``crd.PreserveUnknownFields``); every node has a
  ``type`` unless it is int-or-string or preserves unknown fields; unions are only those
  kube can express: ``X | None`` (see below), ``int | str``
  (``x-kubernetes-int-or-string``), unions of literals or enums of one type (one ``enum``),
  a type with literals of itself (``str | Literal["auto"]`` is a string), ``int | float``
  (``number``) and anything with ``Any`` (free-form). Anything else, notably a union of
  models, is rejected rather than approximated.
* **Faithful validation**: descriptions (model docstrings, ``Field(description=...)``,
  attribute docstrings with ``crd.Model``), defaults (``None`` members dropped, so the
  server stores what ``to_object()`` would send), enums from ``Literal`` and ``Enum``
  (``const`` → a one-value ``enum``), numeric bounds (``gt``/``lt`` → OpenAPI v3's
  boolean ``exclusiveMinimum``/``exclusiveMaximum``), string and collection lengths,
  patterns, formats kube knows. ``set[X]`` becomes ``x-kubernetes-list-type: set`` (kube
  forbids ``uniqueItems``); ``dict[str, X]`` becomes ``additionalProperties``; ``Any`` and
  ``dict[str, Any]`` preserve unknown fields; models with ``extra="allow"`` do too.
* **Optional fields** (``X | None = None``) are plain, not ``nullable``: ``to_object()``
  leaves a None out, and the server drops a null another client sends for a non-nullable
  field (kube prunes them before validation), so it reads back as None either way -- and
  enum fields and CEL rules never meet a null. Where leaving None out would change the
  meaning -- list items, map values, fields that are required or default to something
  else -- ``to_object()`` sends null and the schema says ``nullable: true``; kube cannot
  store null in an enum field, so such an enum is an error. ``json_schema_extra=
  {"nullable": True}`` asks for ``nullable`` anywhere.
* **Stripped**: what kube rejects or ignores (``title``, ``$schema``, ``examples``,
  ``readOnly``, ``discriminator``...). Unknown ``x-kubernetes-*`` keys are an error.

Caveats: constraints on dict *keys* (``propertyNames``, ``patternProperties`` patterns) have
no Kubernetes equivalent and are checked by pydantic only. Patterns are passed through: use
the RE2 subset (no lookarounds or backreferences -- rejected here). pydantic formats kube
does not know (``duration`` is ISO 8601 in pydantic but Go-style in kube, ``time``,
``binary``...) are dropped rather than mis-validated.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import BaseModel
from pydantic.errors import PydanticInvalidForJsonSchema, PydanticUserError

from .errors import SchemaError
from .keywords import EXTENSIONS, FORMATS, SCALARS, emit, json_type, without_nulls
from .markers import merge_keywords

if TYPE_CHECKING:
    from .model import CustomResource

# kube's own descriptions, for a resource that overrides the fields without one.
_API_VERSION_DOC = "APIVersion defines the versioned schema of this representation of an object."
_KIND_DOC = "Kind is a string value representing the REST resource this object represents."

__all__ = ["openapi_schema", "structural_schema"]

_API_VERSION, _KIND, _METADATA = "apiVersion", "kind", "metadata"
_META = (_API_VERSION, _KIND, _METADATA)

# Keywords that do not constrain a union branch (so it can be merged into an enum etc.).
_ANNOTATIONS = {"title", "description", "type", "format", "examples", "readOnly", "writeOnly"}
# RE2 (Go) has no lookarounds or backreferences; kube would reject the CRD.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]|\\k<")


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural schema of ``model``'s serialized form (no resource root rules)."""
    raw = _json_schema(model)
    return _Converter(model.__name__, raw.pop("$defs", {})).convert(raw, "")


def openapi_schema(resource: type[CustomResource]) -> dict[str, Any]:
    """The ``openAPIV3Schema`` of one custom resource version.

    ``apiVersion``, ``kind`` and ``metadata`` get kube's standard schemas (``metadata`` is
    validated by the server itself and may say no more than ``type: object``).
    """
    raw = _json_schema(resource)
    props = raw.setdefault("properties", {})
    for name, doc in ((_API_VERSION, _API_VERSION_DOC), (_KIND, _KIND_DOC)):
        props[name] = {"type": "string", "description": props.get(name, {}).get("description", doc)}
    props[_METADATA] = {"type": "object"}
    raw["required"] = [r for r in raw.get("required", []) if r not in _META]
    converter = _Converter(resource.__name__, raw.pop("$defs", {}))
    out = converter.convert(raw, "")
    if out.get("nullable") or "additionalProperties" in out or out.get("type") != "object":
        converter.fail("", "the root of a resource must be a plain object")
    return out


def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    try:
        return model.model_json_schema(by_alias=True, mode="serialization")
    except (PydanticInvalidForJsonSchema, PydanticUserError) as exc:
        raise SchemaError(model.__name__, "", str(exc)) from exc


class _Converter:
    """One conversion: pydantic's schema plus its ``$defs`` → one self-contained schema."""

    def __init__(self, model: str, defs: Mapping[str, Any]) -> None:
        self.model, self.defs = model, defs
        self.expanding: list[str] = []  # the definitions being inlined, to catch recursion

    def fail(self, path: str, problem: str) -> NoReturn:
        raise SchemaError(self.model, path, problem)

    def convert(
        self,
        node: Mapping[str, Any],
        path: str,
        *,
        sends_null: bool = False,
        optional: bool = False,
    ) -> dict[str, Any]:
        """Convert ``node`` found at ``path``. ``sends_null``: a None here is sent as null
        rather than left out (see the module docstring); ``optional``: a union with None
        has been unwrapped around the node."""
        node, refs = self._inline(node, path)
        self.expanding += refs
        try:
            return self._convert(dict(node), path, sends_null, optional)
        finally:
            del self.expanding[len(self.expanding) - len(refs) :]

    def _inline(self, node: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any], list[str]]:
        """Replace ``$ref`` (and pydantic's single-element ``allOf`` wrapper) by the target,
        the referring node's own keywords (description, default, markers) winning."""
        refs: list[str] = []
        while True:
            if "$ref" in node:
                name = str(node["$ref"]).rsplit("/", 1)[-1]
                if name in self.expanding or name in refs or name not in self.defs:
                    self.fail(
                        path,
                        f"{name} contains itself; a recursive type has no structural schema "
                        "(type the recursive field as crd.PreserveUnknownFields)",
                    )
                rest = {k: v for k, v in node.items() if k != "$ref"}
                node = merge_keywords(self.defs[name], rest)
                refs.append(name)
            elif isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
                rest = {k: v for k, v in node.items() if k != "allOf"}
                node = merge_keywords(node["allOf"][0], rest)
            elif "allOf" in node:
                self.fail(path, "allOf (an intersection of types) is not supported")
            else:
                return node, refs

    def _convert(
        self, node: dict[str, Any], path: str, sends_null: bool, optional: bool
    ) -> dict[str, Any]:
        nullable = bool(node.pop("nullable", False))  # only if asked for explicitly
        if "anyOf" in node and "oneOf" in node:
            self.fail(path, "both anyOf and oneOf")
        union = node.pop("anyOf", None) or node.pop("oneOf", None)
        node.pop("discriminator", None)
        if union is not None:
            branches = [b for b in union if b.get("type") != "null"]
            optional |= len(branches) < len(union)
            if len(branches) == 1:
                merged = merge_keywords(branches[0], node)
                return self.convert(
                    {**merged, "nullable": nullable}, path, sends_null=sends_null, optional=optional
                )
            node.update(self._union(branches, path, node))
        if "const" in node:
            node.setdefault("enum", [node.pop("const")])
        if isinstance(node.get("enum"), list) and None in node["enum"]:
            node["enum"] = [v for v in node["enum"] if v is not None]
            optional = True
        if isinstance(node.get("type"), list):
            types = [t for t in node["type"] if t != "null"]
            optional |= len(types) < len(node["type"])
            if len(types) != 1:
                self.fail(path, f"several types {types} are not structural")
            node["type"] = types[0]
        for key in [k for k in node if k.startswith("x-kubernetes-") and k not in EXTENSIONS]:
            self.fail(path, f"unknown Kubernetes extension {key!r}")
        if node.get("x-kubernetes-preserve-unknown-fields") is False:
            del node["x-kubernetes-preserve-unknown-fields"]  # kube only accepts true
        kind = self._type(node, path)
        node["nullable"] = nullable or (optional and sends_null)
        if optional and sends_null and node.get("enum"):
            # kube-openapi checks enums even for null, and null never matches an enum entry.
            self.fail(
                path,
                "kube cannot store null for a field with enumerated values: give it a None "
                "default, or do not allow None",
            )
        if kind == "object":
            self._object(node, path)
        elif kind == "array":
            self._array(node, path)
        self._numbers(node)
        self._string(node, path)
        if "default" in node:
            default = without_nulls(node.pop("default"))
            if default is not None:
                node["default"] = default
        return emit(node, kind)

    def _type(self, node: dict[str, Any], path: str) -> str | None:
        """The node's type, inferred where pydantic leaves it out; None for the typeless
        kinds kube allows (int-or-string, anything-goes)."""
        kind = node.pop("type", None)
        if kind == "null":
            self.fail(path, "a field that can only be None has no Kubernetes type")
        if node.get("x-kubernetes-int-or-string"):
            return None
        if kind is None and isinstance(node.get("enum"), list) and node["enum"]:
            kind = json_type(node["enum"])
            if kind is None:
                self.fail(path, f"enum values {node['enum']} are not all of one type")
        elif kind is None and ("properties" in node or "additionalProperties" in node):
            kind = "object"
        elif kind is None and ("items" in node or "prefixItems" in node):
            kind = "array"
        elif kind is None:
            node["x-kubernetes-preserve-unknown-fields"] = True  # Any: any JSON value
        if kind is not None and kind not in (*SCALARS, "object", "array"):
            self.fail(path, f"type {kind!r} has no Kubernetes equivalent")
        if node.get("x-kubernetes-embedded-resource") and kind != "object":
            self.fail(path, "an embedded resource must be an object")
        return kind  # type: ignore[no-any-return]

    def _union(
        self, branches: list[Mapping[str, Any]], path: str, node: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The keywords replacing a union of two or more non-null branches."""
        resolved = [self._inline(b, path)[0] for b in branches]
        types = [r.get("type") or json_type(r.get("enum") or [r.get("const")]) for r in resolved]
        plain = all(set(r) <= _ANNOTATIONS for r in resolved)
        if node.get("x-kubernetes-int-or-string") or sorted(map(str, types)) == [
            "integer",
            "string",
        ]:
            if sorted(map(str, types)) != ["integer", "string"] or not plain:
                self.fail(
                    path,
                    "an int-or-string field is exactly `int | str`, without constraints on "
                    "either side (use a CEL rule with crd.validations to constrain it)",
                )
            return {"x-kubernetes-int-or-string": True}
        if set(types) == {"integer", "number"} and plain:
            return {"type": "number"}
        if any(set(r) <= _ANNOTATIONS - {"type"} for r in resolved):
            return {"x-kubernetes-preserve-unknown-fields": True}  # Any absorbs the rest
        unconstrained = [r for r in resolved if set(r) <= _ANNOTATIONS]
        if len(set(types)) == 1 and types[0] in SCALARS and unconstrained:
            return {"type": types[0]}  # str | Literal["auto"] is any string
        literal = all(set(r) <= _ANNOTATIONS | {"enum", "const"} for r in resolved)
        if len(set(types)) == 1 and types[0] in SCALARS and literal:
            values: list[Any] = []
            for r in resolved:
                for v in r.get("enum", [r["const"]] if "const" in r else []):
                    if v not in values:
                        values.append(v)
            if values:
                return {"type": types[0], "enum": values}
        shown = " | ".join(
            str(r.get("title") or t or "any") for r, t in zip(resolved, types, strict=True)
        )
        self.fail(
            path,
            f"the union {shown} has no structural schema: Kubernetes allows only X | None, "
            "int | str and unions of literals of one type (use one model with optional "
            "fields, or crd.PreserveUnknownFields)",
        )

    def _object(self, node: dict[str, Any], path: str) -> None:
        props = node.pop("properties", None) or {}
        extra = node.pop("additionalProperties", None)
        pattern_props = node.pop("patternProperties", None)
        node.pop("propertyNames", None)  # key constraints: no Kubernetes equivalent
        if pattern_props:
            if extra is not None or len(pattern_props) != 1:
                self.fail(path, "several key patterns cannot be expressed for Kubernetes")
            extra = next(iter(pattern_props.values()))
        if extra is True or extra == {}:
            node["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(extra, Mapping):
            if props:
                self.fail(path, "an object cannot have both declared fields and typed extra keys")
            node["additionalProperties"] = self.convert(extra, f"{path}[*]", sends_null=True)
        required = set(node.get("required", []))
        node["properties"] = {
            k: self.convert(v, f"{path}.{k}", sends_null=k in required or _not_none_default(v))
            for k, v in props.items()
        }
        read_only = {k for k, v in props.items() if isinstance(v, Mapping) and v.get("readOnly")}
        node["required"] = [
            r for r in node.get("required", []) if r in props and r not in read_only
        ]

    def _array(self, node: dict[str, Any], path: str) -> None:
        if "prefixItems" in node:
            self.fail(path, "a tuple of fixed positions has no structural schema (use a model)")
        items = node.pop("items", None)
        items = items if isinstance(items, Mapping) else {}
        node["items"] = self.convert(items, f"{path}[*]", sends_null=True)
        item = node["items"]
        list_type = node.get("x-kubernetes-list-type")
        if node.pop("uniqueItems", False) and list_type is None:
            node["x-kubernetes-list-type"] = list_type = "set"
        if list_type in ("set", "map") and item.get("nullable"):
            self.fail(path, f"the items of a list of type {list_type} cannot be None")
        if list_type == "set":
            if item.get("type") == "object":
                item["x-kubernetes-map-type"] = "atomic"  # set items must be atomic
            elif item.get("type") == "array":
                item["x-kubernetes-list-type"] = "atomic"
        elif list_type == "map":
            self._map_keys(node, item, path)

    def _map_keys(self, node: Mapping[str, Any], item: Mapping[str, Any], path: str) -> None:
        if item.get("type") != "object":
            self.fail(path, "a list of type map must hold objects")
        item_props = item.get("properties", {})
        for key in node.get("x-kubernetes-list-map-keys", []):
            prop = item_props.get(key)
            if prop is None:
                self.fail(path, f"list map key {key!r} is not a field of the items")
            if prop.get("type") not in SCALARS or prop.get("nullable"):
                self.fail(path, f"list map key {key!r} must be a scalar that cannot be None")
            if key not in item.get("required", []) and "default" not in prop:
                self.fail(path, f"list map key {key!r} must be required or have a default")

    @staticmethod
    def _numbers(node: dict[str, Any]) -> None:
        # JSON Schema 2020-12 (pydantic) has numeric exclusive bounds, OpenAPI v3.0 boolean
        # flags on minimum/maximum.
        for bound, exclusive, stricter in (
            ("minimum", "exclusiveMinimum", operator.ge),
            ("maximum", "exclusiveMaximum", operator.le),
        ):
            value = node.get(exclusive)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if bound not in node or stricter(value, node[bound]):
                node[bound], node[exclusive] = value, True
            else:
                del node[exclusive]

    def _string(self, node: dict[str, Any], path: str) -> None:
        fmt = node.pop("format", None)
        if fmt in FORMATS:
            node["format"] = FORMATS[fmt]
        pattern = node.get("pattern")
        if isinstance(pattern, str) and _NOT_RE2.search(pattern):
            self.fail(path, f"pattern {pattern!r} uses lookarounds or backreferences (not RE2)")


def _not_none_default(prop: Any) -> bool:
    """Whether the raw property has a default other than None (so None is not implied)."""
    return isinstance(prop, Mapping) and prop.get("default", None) is not None
