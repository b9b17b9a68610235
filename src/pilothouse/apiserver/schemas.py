"""Navigable type schemas: the one view of "what type is this field" shared by the patchers,
server-side apply, pruning and validation.

Two sources feed it:

* built-in kinds: the OpenAPI definitions of the Kubernetes release we emulate, as shipped by
  the maintained ``kubernetes-validate`` package (``_definitions.json``). They carry the
  ``x-kubernetes-patch-merge-key``/``-patch-strategy``/``-list-type``/``-list-map-keys``
  extensions that strategic merge patch and server-side apply need, so nothing is guessed;
* custom resources: the ``openAPIV3Schema`` of the CRD version being served.

:class:`SchemaNode` hides the difference (``$ref`` resolution, JSON-schema ``["string",
"null"]`` type lists, ``oneOf`` int-or-string encodings). A missing schema (``None``) means
"unknown type": callers fall back to plain JSON-merge semantics, as the real server does for
unstructured content.
"""

from __future__ import annotations

import functools
import importlib.util
import pathlib
from collections.abc import Mapping
from typing import Any

import orjson

#: The Kubernetes release whose API the embedded server serves.
KUBE_VERSION = "1.32.0"


class SchemaNode:
    """One node of a type schema with ``$ref`` resolved lazily.

    Nodes memoise their children and their type: the write path walks the same schema for
    every object (pruning, type checks, managed fields), so a schema tree is resolved once
    and then only read. Keep root nodes (``builtin_schema``/``crd_schema`` results) alive to
    benefit.
    """

    __slots__ = ("_children", "_defs", "_fields", "_props", "_type", "raw")

    def __init__(self, raw: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> None:
        self._defs = defs
        self.raw = self._resolve(raw)
        self._children: dict[str, SchemaNode | None] = {}
        # field(name) answers by name: the hot walks (pruning, apply, validation) ask the
        # same few names of the same nodes for every object.
        self._fields: dict[str, SchemaNode | None] = {}
        self._props: Mapping[str, Any] | None = None  # None: not computed yet
        self._type: str | bool | None = False  # False: not computed yet

    def _resolve(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = raw.get("$ref")
        if ref is None or self._defs is None:
            return raw
        target = self._defs[ref.rsplit("/", 1)[-1]]
        # Sibling keys of a $ref (extensions, descriptions) override the target's.
        merged = dict(target)
        merged.update({k: v for k, v in raw.items() if k != "$ref"})
        return merged

    def _child(self, raw: Any) -> SchemaNode | None:
        if isinstance(raw, Mapping):
            return SchemaNode(raw, self._defs)
        return None

    def _cached(self, key: str, raw: Any) -> SchemaNode | None:
        try:
            return self._children[key]
        except KeyError:
            node = self._children[key] = self._child(raw)
            return node

    # -- shape -------------------------------------------------------------------------

    @property
    def type(self) -> str | None:
        """``object``, ``array``, ``string``, ``integer``, ``number``, ``boolean`` or None."""
        if self._type is False:
            self._type = self._compute_type()
        return self._type  # type: ignore[return-value]

    def _compute_type(self) -> str | None:
        t = self.raw.get("type")
        if isinstance(t, list):
            t = next((x for x in t if x != "null"), None)
        if t is None:
            if "properties" in self.raw or "additionalProperties" in self.raw:
                return "object"
            if "items" in self.raw:
                return "array"
        return t if isinstance(t, str) else None

    @property
    def int_or_string(self) -> bool:
        if self.raw.get("x-kubernetes-int-or-string"):
            return True
        one_of = self.raw.get("oneOf")
        return isinstance(one_of, list) and len(one_of) == 2 and "type" in str(one_of)

    @property
    def preserve_unknown_fields(self) -> bool:
        return bool(self.raw.get("x-kubernetes-preserve-unknown-fields"))

    @property
    def embedded_resource(self) -> bool:
        return bool(self.raw.get("x-kubernetes-embedded-resource"))

    @property
    def properties(self) -> Mapping[str, Any]:
        props = self._props
        if props is None:
            raw = self.raw.get("properties")
            props = self._props = raw if isinstance(raw, Mapping) else {}
        return props

    def field(self, name: str) -> SchemaNode | None:
        """The schema of object field ``name``: a declared property, else the
        ``additionalProperties`` schema, else None (unknown)."""
        try:
            return self._fields[name]
        except KeyError:
            pass
        props = self.properties
        if name in props:
            node = self._cached("." + name, props[name])
        else:
            node = self.additional_properties()
        if len(self._fields) < 1024:  # bounded: names under additionalProperties vary
            self._fields[name] = node
        return node

    def additional_properties(self) -> SchemaNode | None:
        return self._cached("additionalProperties", self.raw.get("additionalProperties"))

    def items(self) -> SchemaNode | None:
        return self._cached("items", self.raw.get("items"))

    # -- merge semantics ---------------------------------------------------------------

    @property
    def list_type(self) -> str | None:
        """``atomic``, ``set`` or ``map`` (``x-kubernetes-list-type``)."""
        lt = self.raw.get("x-kubernetes-list-type")
        return lt if isinstance(lt, str) else None

    @property
    def list_map_keys(self) -> tuple[str, ...]:
        keys = self.raw.get("x-kubernetes-list-map-keys")
        return tuple(keys) if isinstance(keys, list) else ()

    @property
    def map_type(self) -> str | None:
        """``granular`` or ``atomic`` (``x-kubernetes-map-type``)."""
        mt = self.raw.get("x-kubernetes-map-type")
        return mt if isinstance(mt, str) else None

    @property
    def patch_strategy(self) -> tuple[str, ...]:
        """Strategic-merge strategies, e.g. ``("merge", "retainKeys")``."""
        ps = self.raw.get("x-kubernetes-patch-strategy")
        return tuple(s for s in ps.split(",") if s) if isinstance(ps, str) else ()

    @property
    def patch_merge_key(self) -> str | None:
        key = self.raw.get("x-kubernetes-patch-merge-key")
        return key if isinstance(key, str) else None

    def __repr__(self) -> str:
        return f"SchemaNode(type={self.type!r})"


@functools.cache
def builtin_definitions(version: str = KUBE_VERSION) -> Mapping[str, Any]:
    """The OpenAPI definitions of a Kubernetes release, keyed by definition name
    (``io.k8s.api.apps.v1.Deployment``)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or spec.origin is None:
        raise RuntimeError("the kubernetes-validate package is required for built-in schemas")
    path = (
        pathlib.Path(spec.origin).parent
        / "kubernetes-json-schema"
        / f"v{version}-local"
        / "_definitions.json"
    )
    data = orjson.loads(path.read_bytes())
    defs = data.get("$defs", data.get("definitions"))
    assert isinstance(defs, dict)
    return defs


@functools.cache
def _gvk_index(version: str = KUBE_VERSION) -> Mapping[tuple[str, str], str]:
    index: dict[tuple[str, str], str] = {}
    for name, d in builtin_definitions(version).items():
        props = d.get("properties", {})
        api = props.get("apiVersion", {}).get("enum")
        kind = props.get("kind", {}).get("enum")
        if api and kind:
            index[(api[0], kind[0])] = name
    return index


def builtin_definition_name(api_version: str, kind: str) -> str | None:
    """The definition name of a built-in kind, e.g. ``("apps/v1", "Deployment")`` →
    ``io.k8s.api.apps.v1.Deployment``; None for kinds the release does not have."""
    return _gvk_index().get((api_version, kind))


@functools.cache
def builtin_schema(api_version: str, kind: str) -> SchemaNode | None:
    """The root schema of a built-in kind, or None if the release does not define it."""
    name = builtin_definition_name(api_version, kind)
    if name is None:
        return None
    defs = builtin_definitions()
    return SchemaNode(defs[name], defs)


def definition(name: str) -> SchemaNode:
    """A named built-in definition (``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``)."""
    defs = builtin_definitions()
    return SchemaNode(defs[name], defs)


def crd_schema(open_api_v3_schema: Mapping[str, Any]) -> SchemaNode:
    """The root schema of a custom resource version (``spec.versions[].schema.openAPIV3Schema``).

    ``metadata`` of a custom resource is always the standard ObjectMeta, whatever the CRD
    says, so that field is grafted in from the built-in definitions.
    """
    raw = dict(open_api_v3_schema)
    props = dict(raw.get("properties") or {})
    meta = builtin_definitions()["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    props["metadata"] = {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    raw["properties"] = props
    del meta
    return SchemaNode(raw, builtin_definitions())
