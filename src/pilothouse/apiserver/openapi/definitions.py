"""The ``definitions`` / ``components.schemas`` of the documents: built-in definitions
converted from JSON-schema form, CRD kinds as the real CRD builder publishes them, and the
closure of what a document's paths reach.

Design choices:

* Built-in definitions (:func:`schemas.builtin_definitions`) are converted once per version:
  ``#/definitions/`` or ``#/components/schemas/`` refs, single types, IntOrString as
  ``type: string, format: int-or-string`` in v2 and a ``oneOf`` in v3, refs with siblings
  wrapped in ``allOf`` in v3, and without the ``apiVersion``/``kind`` enums that package adds.
* CRD kinds get the real CRD builder's treatment: TypeMeta, an ObjectMeta ref, a
  ``<Kind>List``, and for v2 the structural-to-v2 reductions (``ToStructuralOpenAPIV2``),
  since kube-openapi's v2 model parser rejects the whole document on one bad definition.
* Converted definitions are shared between documents and must not be mutated.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pilothouse.apiserver import resources, schemas

META = "io.k8s.apimachinery.pkg.apis.meta.v1."


_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"


def _single_type(value: Any) -> str | None:
    if isinstance(value, list):
        return next((t for t in value if t != "null"), None)
    return value if isinstance(value, str) else None


def _scalar_union(one_of: Any) -> set[str] | None:
    """The types of a ``oneOf`` of bare scalar types (IntOrString, Quantity), else None."""
    if not isinstance(one_of, list) or not one_of:
        return None
    types: set[str] = set()
    for alt in one_of:
        t = _single_type(alt.get("type")) if isinstance(alt, Mapping) else None
        if t is None or len(alt) != 1 or t not in ("string", "integer", "number"):
            return None
        types.add(t)
    return types


def ref(name: str, v3: bool, **siblings: Any) -> dict[str, Any]:
    """A reference; in v3 one with siblings is wrapped in ``allOf`` as kube-openapi does."""
    if not v3:
        return {"$ref": f"#/definitions/{name}", **siblings}
    target = {"$ref": f"#/components/schemas/{name}"}
    return {"allOf": [target], **siblings} if siblings else target


def _convert(node: Any, v3: bool) -> Any:
    """A JSON-schema node (``#/$defs`` refs, type lists) in OpenAPI v2 or v3 form."""
    if not isinstance(node, Mapping):
        return node
    union = _scalar_union(node.get("oneOf"))
    out: dict[str, Any] = {}
    ref_name: str | None = None
    for key, value in node.items():
        if key == "$ref":
            ref_name = str(value).rsplit("/", 1)[-1]
        elif key == "type":
            if (t := _single_type(value)) is not None:
                out[key] = t
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {k: _convert(v, v3) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _convert(value, v3)
        elif key == "oneOf" and union is not None:
            # IntOrString / Quantity: v2 has no oneOf, so they are strings (with format).
            alts = ["integer", "string"] if "integer" in union else ["string", "number"]
            out.update({"oneOf": [{"type": t} for t in alts]} if v3 else {"type": "string"})
            if "integer" in union:
                out["format"] = "int-or-string"
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_convert(v, v3) for v in value]
        else:
            out[key] = value
    return out if ref_name is None else ref(ref_name, v3, **out)


def _convert_definition(raw: Mapping[str, Any], v3: bool) -> dict[str, Any]:
    out: dict[str, Any] = _convert(raw, v3)
    props = out.get("properties")
    if "x-kubernetes-group-version-kind" in out and isinstance(props, dict):
        # kubernetes-validate pins TypeMeta with enums; the real spec has none there.
        for key in ("apiVersion", "kind"):
            if isinstance(props.get(key), dict):
                props[key] = {k: v for k, v in props[key].items() if k != "enum"}
    return out


@functools.cache
def _builtin_defs(v3: bool) -> Mapping[str, Any]:
    return {n: _convert_definition(d, v3) for n, d in schemas.builtin_definitions().items()}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            elif key == "properties" and isinstance(value, Mapping):
                # Property names are not keywords: JSONSchemaProps has an "x-kubernetes-..." one.
                for prop in value.values():
                    yield from _refs(prop)
            elif not key.startswith("x-"):
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


@functools.cache
def _builtin_refs(name: str) -> frozenset[str]:
    return frozenset(_refs(schemas.builtin_definitions()[name]))


def closure(roots: set[str], defs: Mapping[str, Any]) -> dict[str, Any]:
    """The definitions reachable from ``roots``, sorted by name."""
    builtin = schemas.builtin_definitions()
    seen: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            refs = _builtin_refs(name) if name in builtin else _refs(defs[name])
            todo.extend(r for r in refs if r in defs and r not in seen)
    return {name: defs[name] for name in sorted(seen)}


# -- custom resources --------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` as plain JSON: dicts with string keys and lists, copied."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _v2_structural(node: dict[str, Any]) -> dict[str, Any]:
    """The CRD builder's v2 reductions (``ToStructuralOpenAPIV2``): no junctors or
    ``nullable``, untyped nullable / unknown-preserving nodes, no item-less arrays."""
    out = {k: v for k, v in node.items() if k not in ("allOf", "oneOf", "anyOf", "not", "nullable")}
    dropped: tuple[str, ...] = ("type", "items", "properties") if node.get("nullable") else ()
    if node.get("x-kubernetes-preserve-unknown-fields"):
        dropped += ("items", "properties")
    for key in dropped:
        out.pop(key, None)
    if out.get("type") == "array" and "items" not in out:
        del out["type"]  # kube-openapi's parser rejects arrays without an item schema
    props = out.get("properties")
    if isinstance(props, dict):
        nullable = {k for k, v in props.items() if isinstance(v, dict) and v.get("nullable")}
        if isinstance(out.get("required"), list) and nullable:
            out["required"] = [r for r in out["required"] if r not in nullable]
        out["properties"] = {k: _v2_structural(v) for k, v in props.items()}
    if isinstance(out.get("items"), dict):
        out["items"] = _v2_structural(out["items"])
    if isinstance(out.get("additionalProperties"), dict):
        if out["additionalProperties"].get("nullable"):
            out.pop("required", None)
        out["additionalProperties"] = _v2_structural(out["additionalProperties"])
    if out.get("required") == []:
        del out["required"]
    return out


def _crd_def_name(rt: resources.ResourceType) -> str:
    """``stable.example.com/v1 CronTab`` -> ``com.example.stable.v1.CronTab``."""
    return ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])


def kind_def(rt: resources.ResourceType, suffix: str = "") -> str | None:
    """The definition name of ``rt``'s kind (``suffix="List"``: its list), None if unknown."""
    if rt.is_custom:
        return _crd_def_name(rt) + suffix
    return schemas.builtin_definition_name(rt.api_version, rt.kind + suffix)


def _typed_object(rt: resources.ResourceType, kind: str, body: dict[str, Any], meta: str,
                  v3: bool) -> dict[str, Any]:  # fmt: skip
    """``body`` with TypeMeta, a ``metadata`` ref and the GVK extension, as the CRD builder
    publishes kinds and lists."""
    props = dict(body.get("properties") or {})
    props["apiVersion"] = {"description": "APIVersion of this object.", "type": "string"}
    props["kind"] = {"description": "Kind of the REST resource.", "type": "string"}
    desc = f"Standard {'list' if meta == 'ListMeta' else 'object'}'s metadata. See {_CONVENTIONS}"
    props["metadata"] = ref(META + meta, v3, description=desc)
    gvk = [{"group": rt.group, "kind": kind, "version": rt.version}]
    return {**body, "properties": dict(sorted(props.items())), "type": "object",
            "x-kubernetes-group-version-kind": gvk}  # fmt: skip


def _crd_definitions(rt: resources.ResourceType, v3: bool) -> dict[str, Any]:
    raw = ((rt.crd_version or {}).get("schema") or {}).get("openAPIV3Schema")
    name = _crd_def_name(rt)
    gvk = [{"group": rt.group, "kind": rt.kind, "version": rt.version}]
    if raw is None or (not v3 and raw.get("x-kubernetes-preserve-unknown-fields")):
        # The builder publishes a bare object then, or kubectl would reject unknown fields.
        kind: dict[str, Any] = {"type": "object", "x-kubernetes-group-version-kind": gvk}
    else:
        body = plain(raw) if v3 else _v2_structural(plain(raw))
        kind = _typed_object(rt, rt.kind, body, "ObjectMeta", v3)
    items = {"description": f"List of {rt.plural}.", "items": ref(name, v3), "type": "array"}
    listing = {"description": f"{rt.kind}List is a list of {rt.kind}",
               "properties": {"items": items}, "required": ["items"]}  # fmt: skip
    return {name: kind, name + "List": _typed_object(rt, rt.kind + "List", listing, "ListMeta", v3)}


def definitions(types: Sequence[resources.ResourceType], v3: bool) -> dict[str, Any]:
    """Built-in definitions plus the CRD kinds; served built-in kinds get their GVK."""
    defs = dict(_builtin_defs(v3))
    for rt in types:
        if rt.is_custom:
            defs.update(_crd_definitions(rt, v3))
        elif (name := kind_def(rt)) is not None:
            gvks = list(defs[name].get("x-kubernetes-group-version-kind") or [])
            if (gvk := {"group": rt.group, "kind": rt.kind, "version": rt.version}) not in gvks:
                defs[name] = {**defs[name], "x-kubernetes-group-version-kind": [*gvks, gvk]}
    return defs
