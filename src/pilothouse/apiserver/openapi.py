"""OpenAPI documents: ``/openapi/v2`` (Swagger 2.0, JSON or gnostic protobuf) and
``/openapi/v3`` (an index plus one OpenAPI 3.0 document per group version).

What kubectl / client-go 1.32 fetch, hence what has to be right (verified against the
kubectl 1.32 binary: explain in both formats, client-side apply, ``--validate=strict``):

* ``/openapi/v2`` is only ever requested as protobuf: ``DiscoveryClient.OpenAPISchema`` sends
  ``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and
  ``proto.Unmarshal``-s the body into gnostic's ``openapi_v2.Document``; there is no JSON
  fallback. The response must declare ``...spec.v2.v1.0+protobuf``: Go's Content-Type parser
  rejects the ``@`` spelling ("mime: unexpected content after media subtype"). Hence
  :func:`v2_protobuf`, a table-driven encoder of that message (no protobuf dependency).
  Vendor extensions, ``default``, ``enum`` and ``example`` are gnostic ``Any`` messages whose
  ``yaml`` field holds the value; kube-openapi decodes them as YAML, so JSON text goes there.
  kubectl 1.32 falls back to v2 for ``apply`` when v3 yields no strategic merge patch
  (always for CRDs), for ``--validate`` when v3 cannot tell whether ``fieldValidation`` is
  supported (it then validates client-side against v2), and for ``explain --output
  plaintext-openapiv2``. kube-openapi's model parser rejects the whole document if one
  definition has several types, an array lacks ``items`` or a ``$ref`` dangles.
* ``/openapi/v3`` is JSON only (client-go's ``openapi3.Root`` and ``kubectl explain`` ask for
  ``application/json``): ``{"paths": {"apis/apps/v1": {"serverRelativeURL":
  "/openapi/v3/apis/apps/v1?hash=<HASH>"}}}``, looked up by ``api/v1`` /
  ``apis/<group>/<version>``. The hash is the uppercase sha512 of the document body and its
  ETag; kube-openapi answers a stale ``?hash=`` with a redirect to the current URL.
* ``kubectl explain`` finds the kind via a get/post/put/patch/delete operation carrying
  ``x-kubernetes-group-version-kind`` (an object) on ``<prefix>/<plural>``,
  ``<prefix>/namespaces/{namespace}/<plural>`` or their ``/{name}`` forms, then the
  ``components.schemas`` entry whose GVK list contains exactly that ``{group,kind,version}``;
  it follows ``#/components/schemas/`` refs and ``allOf`` wrappers.
* client-side ``kubectl apply`` computes a strategic merge patch from v3 when the kind's
  PATCH operation accepts ``application/strategic-merge-patch+json``, reading the patch
  strategy / merge key from the *property* schema (beside the ``allOf: [{$ref}]`` wrapper).
* ``--validate=strict|warn`` leaves validation to the server when the kind's PATCH operation
  lists ``fieldValidation`` among its own ``parameters`` (v3 names are not resolved through
  ``$ref``, so parameters are inlined everywhere).

Design: built-in definitions (:func:`schemas.builtin_definitions`, JSON-schema form) are
converted once per version: ``#/definitions/`` or ``#/components/schemas/`` refs, single
types, IntOrString as ``type: string, format: int-or-string`` in v2 and a ``oneOf`` in v3,
refs with siblings wrapped in ``allOf`` in v3, and without the ``apiVersion``/``kind`` enums
that package adds. CRD kinds get the real CRD builder's treatment (TypeMeta, an ObjectMeta
ref, a ``<Kind>List``, the structural-to-v2 reductions for v2). A document lists only the
definitions its paths reach. Paths are modelled once (:class:`_Op`, :class:`_Path`) and
rendered to both versions; the deprecated ``/watch/`` paths are not published. Documents are
built lazily and memoised, keyed by the served types *and* the CRD schemas' content
(``ResourceType`` equality ignores ``crd_version``), in a small LRU; :func:`invalidate` drops
everything. Returned documents are shared and must not be mutated.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import struct
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any

import orjson

from pilothouse.apiserver import discovery, resources, schemas

JSON = "application/json"
#: The protobuf media type answered with. client-go asks for the older ``...spec.v2@v1.0+
#: protobuf`` spelling, but Go's mime parser rejects ``@`` in a response Content-Type, so
#: kube-openapi accepts both and always declares this one.
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_V2_PROTOBUF_REQUESTED = (V2_PROTOBUF, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")

_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_VERSION_INFO = "io.k8s.apimachinery.pkg.version.Info"
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_CR_PATCH_TYPES = tuple(t for t in _PATCH_TYPES if "strategic" not in t)
_PRODUCES = (JSON, "application/yaml")
_CONNECT = frozenset({"attach", "exec", "portforward", "proxy"})
_CODES = {"200": "OK", "201": "Created", "202": "Accepted", "401": "Unauthorized"}
_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
_INFO = {"title": "Kubernetes", "version": f"v{schemas.KUBE_VERSION}"}
_BEARER = {"type": "apiKey", "name": "authorization", "in": "header"}

# fmt: off
# Query/path parameters: name -> (type, description).
_PARAMS: dict[str, tuple[str, str]] = {
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "namespace": ("string", "object name and auth scope, such as for teams and projects"),
    "allowWatchBookmarks": ("boolean", "Request watch events with type BOOKMARK."),
    "continue": ("string", "The continue token of a previous paginated list call."),
    "fieldSelector": ("string", "Restrict the returned objects by their fields."),
    "labelSelector": ("string", "Restrict the returned objects by their labels."),
    "limit": ("integer", "Maximum number of responses to return for a list call."),
    "resourceVersion": ("string", "Constrains which resource versions the request serves."),
    "resourceVersionMatch": ("string", "How resourceVersion is applied to list calls."),
    "sendInitialEvents": ("boolean", "Begin a watch stream with synthetic ADDED events."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": ("boolean", "Watch for changes and return them as a stream of events."),
    "dryRun": ("string", "When present, modifications are not persisted (All)."),
    "fieldManager": ("string", "Name of the actor or entity making these changes."),
    "fieldValidation": ("string", "Unknown/duplicate fields: Ignore, Warn or Strict."),
    "force": ("boolean", "Force Apply requests to re-acquire conflicting fields."),
    "gracePeriodSeconds": ("integer", "Seconds before the object should be deleted."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": ("boolean", "Delete unreadable objects."),
    "orphanDependents": ("boolean", "Deprecated: use propagationPolicy."),
    "propagationPolicy": ("string", "Garbage collection policy: Orphan, Background, Foreground."),
    "container": ("string", "The container for which to stream logs."),
    "follow": ("boolean", "Follow the log stream of the pod."),
    "insecureSkipTLSVerifyBackend": ("boolean", "Skip verifying the kubelet's certificate."),
    "limitBytes": ("integer", "Number of bytes to read from the server before terminating."),
    "previous": ("boolean", "Return the logs of the previously terminated container."),
    "sinceSeconds": ("integer", "Relative time in seconds before now to show logs from."),
    "tailLines": ("integer", "Number of lines from the end of the logs to show."),
    "timestamps": ("boolean", "Prefix every line of log output with an RFC3339 timestamp."),
}
_LIST_Q = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
           "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds",
           "watch")
_WRITE_Q = ("dryRun", "fieldManager", "fieldValidation")
_PATCH_Q = (*_WRITE_Q, "force")
_DELETE_Q = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
             "orphanDependents", "propagationPolicy")
_DELETECOLLECTION_Q = tuple(sorted({*_DELETE_Q, *_LIST_Q} - {"watch", "allowWatchBookmarks"}))
_LOG_Q = ("container", "follow", "insecureSkipTLSVerifyBackend", "limitBytes", "previous",
          "sinceSeconds", "tailLines", "timestamps")
# verb -> (HTTP method and x-kubernetes-action, operationId prefix, description)
_VERBS = {
    "get": ("get", "read", "read"), "update": ("put", "replace", "replace"),
    "patch": ("patch", "patch", "partially update"), "create": ("post", "create", "create"),
    "delete": ("delete", "delete", "delete"),
}
# fmt: on


# -- schema conversion -------------------------------------------------------------------


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


def _ref(name: str, v3: bool, **siblings: Any) -> dict[str, Any]:
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
    ref: str | None = None
    for key, value in node.items():
        if key == "$ref":
            ref = str(value).rsplit("/", 1)[-1]
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
    return out if ref is None else _ref(ref, v3, **out)


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


def _closure(roots: set[str], defs: Mapping[str, Any]) -> dict[str, Any]:
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


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
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


def _kind_def(rt: resources.ResourceType, suffix: str = "") -> str | None:
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
    props["metadata"] = _ref(_META + meta, v3, description=desc)
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
        body = _plain(raw) if v3 else _v2_structural(_plain(raw))
        kind = _typed_object(rt, rt.kind, body, "ObjectMeta", v3)
    items = {"description": f"List of {rt.plural}.", "items": _ref(name, v3), "type": "array"}
    listing = {"description": f"{rt.kind}List is a list of {rt.kind}",
               "properties": {"items": items}, "required": ["items"]}  # fmt: skip
    return {name: kind, name + "List": _typed_object(rt, rt.kind + "List", listing, "ListMeta", v3)}


def _definitions(types: Sequence[resources.ResourceType], v3: bool) -> dict[str, Any]:
    """Built-in definitions plus the CRD kinds; served built-in kinds get their GVK."""
    defs = dict(_builtin_defs(v3))
    for rt in types:
        if rt.is_custom:
            defs.update(_crd_definitions(rt, v3))
        elif (name := _kind_def(rt)) is not None:
            gvks = list(defs[name].get("x-kubernetes-group-version-kind") or [])
            if (gvk := {"group": rt.group, "kind": rt.kind, "version": rt.version}) not in gvks:
                defs[name] = {**defs[name], "x-kubernetes-group-version-kind": [*gvks, gvk]}
    return defs


# -- paths -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Op:
    method: str  # HTTP method, lower case
    op_id: str
    description: str
    action: str | None = None
    gvk: tuple[str, str, str] | None = None
    query: tuple[str, ...] = ()
    body: str | None = None  # definition name of the request body
    body_required: bool = True
    response: str | None = None  # definition name; None means a plain string
    codes: tuple[str, ...] = ("200",)
    consumes: tuple[str, ...] = ("*/*",)
    produces: tuple[str, ...] = _PRODUCES


@dataclasses.dataclass
class _Path:
    path: str
    doc: str  # the /openapi/v3 document holding this path
    tag: str
    params: tuple[str, ...] = ("pretty",)
    name_of: str = ""  # the kind a {name} path parameter names
    ops: list[_Op] = dataclasses.field(default_factory=list)


def _camel(group: str) -> str:
    parts = group.removesuffix(".k8s.io").replace("-", ".").split(".")
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def _gv_id(group: str, version: str) -> str:
    """``AppsV1``, ``RbacAuthorizationV1``, ``CoreV1``: the group version in operation ids."""
    return (_camel(group) if group else "Core") + version[:1].upper() + version[1:]


def _tag(group: str, version: str = "") -> str:
    name = _camel(group) if group else "core"
    return f"{name[:1].lower()}{name[1:]}" + (f"_{version}" if version else "")


def _ns(rt: resources.ResourceType) -> tuple[str, ...]:
    return ("namespace",) if rt.namespaced else ()


def _verb_op(verb: str, op_id: str, desc: str, gvk: tuple[str, str, str], target: str | None,
             patch_types: tuple[str, ...]) -> _Op:  # fmt: skip
    """The operation for a standard verb on an object (or subresource) of ``target``."""
    method = _VERBS[verb][0]
    if verb == "get":
        return _Op(method, op_id, desc, method, gvk, response=target)
    if verb == "delete":
        return _Op(method, op_id, desc, method, gvk, _DELETE_Q, _META + "DeleteOptions", False,
                   _META + "Status", ("200", "202"))  # fmt: skip
    codes = ("200", "201", "202") if verb == "create" else ("200", "201")
    if verb == "patch":
        return _Op(method, op_id, desc, method, gvk, _PATCH_Q, _META + "Patch", True, target,
                   codes, patch_types)  # fmt: skip
    return _Op(method, op_id, desc, method, gvk, _WRITE_Q, target, True, target, codes)


def _resource_paths(rt: resources.ResourceType) -> list[_Path]:
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    doc, tag, gv = prefix[1:], _tag(rt.group, rt.version), _gv_id(rt.group, rt.version)
    kind, gvk = rt.kind, (rt.group, rt.version, rt.kind)
    scope = "Namespaced" if rt.namespaced else ""
    kind_def, list_def = _kind_def(rt), _kind_def(rt, "List")
    base = f"{prefix}/namespaces/{{namespace}}" if rt.namespaced else prefix
    base += f"/{rt.plural}"
    patch_types = _CR_PATCH_TYPES if rt.is_custom else _PATCH_TYPES
    coll = _Path(base, doc, tag, (*_ns(rt), "pretty"))
    item = _Path(base + "/{name}", doc, tag, ("name", *_ns(rt), "pretty"), kind)
    out = [coll, item]
    if rt.supports("list"):
        desc, watch = f"list or watch objects of kind {kind}", (*_PRODUCES, f"{JSON};stream=watch")
        for path, op_id in (
            (coll, f"list{gv}{scope}{kind}"),
            (None, f"list{gv}{kind}ForAllNamespaces"),
        ):
            op = _Op("get", op_id, desc, "list", gvk, _LIST_Q, response=list_def, produces=watch)
            if path is not None:
                path.ops.append(op)
            elif rt.namespaced:
                out.append(_Path(f"{prefix}/{rt.plural}", doc, tag, ops=[op]))
    if rt.supports("create"):
        coll.ops.append(_verb_op("create", f"create{gv}{scope}{kind}", f"create a {kind}", gvk,
                                 kind_def, patch_types))  # fmt: skip
    if rt.supports("deletecollection"):
        op = _verb_op("delete", f"delete{gv}Collection{scope}{kind}",
                      f"delete collection of {kind}", gvk, None, patch_types)  # fmt: skip
        coll.ops.append(
            dataclasses.replace(op, action="deletecollection", query=_DELETECOLLECTION_Q)
        )
    for verb in ("get", "update", "patch", "delete"):
        if rt.supports(verb):
            _, id_prefix, text = _VERBS[verb]
            op_id, desc = f"{id_prefix}{gv}{scope}{kind}", f"{text} the specified {kind}"
            item.ops.append(_verb_op(verb, op_id, desc, gvk, kind_def, patch_types))
    for sub in rt.subresources:
        out.append(_subresource_path(rt, sub, base, doc, f"{gv}{scope}{kind}", patch_types))
    return [p for p in out if p.ops]


def _subresource_path(rt: resources.ResourceType, sub: str, base: str, doc: str, ids: str,
                      patch_types: tuple[str, ...]) -> _Path:  # fmt: skip
    sgvk = discovery.subresource_gvk(rt, sub)
    if sgvk == (rt.group, rt.version, rt.kind):
        target = _kind_def(rt)
    else:
        target = schemas.builtin_definition_name(f"{sgvk[0]}/{sgvk[1]}".lstrip("/"), sgvk[2])
    suffix = sub[:1].upper() + sub[1:]
    path = _Path(f"{base}/{{name}}/{sub}", doc, _tag(rt.group, rt.version),
                 ("name", *_ns(rt), "pretty"), rt.kind)  # fmt: skip
    for verb in discovery.subresource_verbs(sub):
        method, id_prefix, text = _VERBS[verb]
        if sub in _CONNECT:
            op_id = f"connect{method.title()}{ids}{suffix}"
            desc = f"connect {method.upper()} requests to {sub} of {rt.kind}"
            path.ops.append(_Op(method, op_id, desc, "connect", sgvk, produces=("*/*",)))
        elif sub == "log":
            desc, produces = f"read log of the specified {rt.kind}", ("text/plain", *_PRODUCES)
            path.ops.append(
                _Op("get", f"read{ids}{suffix}", desc, "get", sgvk, _LOG_Q, produces=produces)
            )
        else:
            desc = f"{text} {sub} of the specified {rt.kind}"
            path.ops.append(
                _verb_op(verb, f"{id_prefix}{ids}{suffix}", desc, sgvk, target, patch_types)
            )
    return path


def _all_paths(types: Sequence[resources.ResourceType]) -> list[_Path]:
    """Every path: the discovery endpoints, then each resource's."""

    def get(path: str, doc: str, tag: str, op_id: str, response: str) -> _Path:
        op = _Op("get", op_id, "get information about the served API", None, None,
                 response=response, consumes=_PRODUCES)  # fmt: skip
        return _Path(path, doc, tag, (), ops=[op])

    out = [
        get("/api/", "api", "core", "getCoreAPIVersions", _META + "APIVersions"),
        get("/apis/", "apis", "apis", "getAPIVersions", _META + "APIGroupList"),
        get("/version/", "version", "version", "getCodeVersion", _VERSION_INFO),
    ]  # fmt: skip
    for group, versions in discovery.group_versions(types):
        if group:
            op_id = f"get{_camel(group)}APIGroup"
            out.append(
                get(f"/apis/{group}/", f"apis/{group}", _tag(group), op_id, _META + "APIGroup")
            )
        for version in versions:
            doc = f"apis/{group}/{version}" if group else f"api/{version}"
            op_id = f"get{_gv_id(group, version)}APIResources"
            out.append(get(f"/{doc}/", doc, _tag(group, version), op_id, _META + "APIResourceList"))
    for rt in types:
        out.extend(_resource_paths(rt))
    return out


# -- rendering ---------------------------------------------------------------------------


def _param(name: str, name_of: str, v3: bool) -> dict[str, Any]:
    where = "path" if name in ("name", "namespace") else "query"
    typ, desc = _PARAMS.get(name, ("string", f"name of the {name_of}"))
    required = {"required": True} if where == "path" else {}
    if v3:
        return {"name": name, "in": where, "description": desc, **required,
                "schema": {"type": typ, "uniqueItems": True}}  # fmt: skip
    return {"uniqueItems": True, "type": typ, "description": desc, "name": name, "in": where,
            **required}  # fmt: skip


def _render_op(op: _Op, tag: str, v3: bool) -> dict[str, Any]:
    """One operation; parameters are inlined (kubectl's v3 check for ``fieldValidation``
    does not resolve parameter refs)."""
    codes: dict[str, dict[str, Any]] = {c: {"description": _CODES[c]} for c in (*op.codes, "401")}
    params = [_param(q, "", v3) for q in op.query]
    schema = _ref(op.response, v3) if op.response is not None else {"type": "string"}
    if v3:
        out: dict[str, Any] = {
            "tags": [tag],
            "description": op.description,
            "operationId": op.op_id,
        }
        if params:
            out["parameters"] = params
        if op.body is not None:
            content = {t: {"schema": _ref(op.body, True)} for t in op.consumes}
            out["requestBody"] = {"content": content, "required": op.body_required}
        for code in op.codes:
            codes[code]["content"] = {t: {"schema": schema} for t in op.produces}
    else:
        out = {"description": op.description, "consumes": list(op.consumes),
               "produces": list(op.produces), "schemes": ["https"], "tags": [tag],
               "operationId": op.op_id}  # fmt: skip
        if op.body is not None:
            params.insert(0, {"name": "body", "in": "body", "required": op.body_required,
                              "schema": _ref(op.body, False)})  # fmt: skip
        if params:
            out["parameters"] = params
        for code in op.codes:
            codes[code]["schema"] = schema
    out["responses"] = codes
    if op.action is not None:
        out["x-kubernetes-action"] = op.action
    if op.gvk is not None:
        group, version, kind = op.gvk
        out["x-kubernetes-group-version-kind"] = {"group": group, "kind": kind, "version": version}
    return out


def _render_paths(paths: Sequence[_Path], v3: bool) -> tuple[dict[str, Any], set[str]]:
    """The ``paths`` object and the definition names its operations reference."""
    out: dict[str, Any] = {}
    roots: set[str] = set()
    for p in sorted(paths, key=lambda p: p.path):
        item: dict[str, Any] = {op.method: _render_op(op, p.tag, v3) for op in p.ops}
        if p.params:
            item["parameters"] = [_param(n, p.name_of, v3) for n in p.params]
        out[p.path] = item
        roots.update(n for op in p.ops for n in (op.body, op.response) if n is not None)
    return out, roots


def _hash(body: bytes) -> str:
    return hashlib.sha512(body).hexdigest().upper()


class _Built:
    """Everything derived from one set of served types, each part built on first use."""

    def __init__(self, types: Sequence[resources.ResourceType]) -> None:
        self.types = tuple(types)
        self.paths = _all_paths(self.types)
        self._v2: dict[str, Any] | None = None
        self._v2_bytes: dict[str, tuple[bytes, str]] = {}
        self._v3: dict[str, tuple[dict[str, Any], bytes, str]] | None = None

    def v2(self) -> dict[str, Any]:
        if self._v2 is None:
            paths, roots = _render_paths(self.paths, v3=False)
            roots.update(
                n for rt in self.types for n in (_kind_def(rt), _kind_def(rt, "List")) if n
            )
            self._v2 = {
                "swagger": "2.0",
                "info": dict(_INFO),
                "paths": paths,
                "definitions": _closure(roots, _definitions(self.types, v3=False)),
                "securityDefinitions": {"BearerToken": dict(_BEARER)},
                "security": [{"BearerToken": []}],
            }
        return self._v2

    def v2_bytes(self, content_type: str) -> tuple[bytes, str]:
        if content_type not in self._v2_bytes:
            doc = self.v2()
            body = v2_protobuf(doc) if content_type == V2_PROTOBUF else orjson.dumps(doc)
            self._v2_bytes[content_type] = (body, _hash(body))
        return self._v2_bytes[content_type]

    def v3(self) -> dict[str, tuple[dict[str, Any], bytes, str]]:
        """``{document path: (document, JSON body, hash)}``."""
        if self._v3 is None:
            defs = _definitions(self.types, v3=True)
            by_doc: dict[str, list[_Path]] = collections.defaultdict(list)
            for p in self.paths:
                by_doc[p.doc].append(p)
            self._v3 = {}
            for name in sorted(by_doc):
                paths, roots = _render_paths(by_doc[name], v3=True)
                components = {"schemas": _closure(roots, defs),
                              "securitySchemes": {"BearerToken": dict(_BEARER)}}  # fmt: skip
                doc = {"openapi": "3.0.0", "info": dict(_INFO), "paths": paths,
                       "components": components, "security": [{"BearerToken": []}]}  # fmt: skip
                body = orjson.dumps(doc)
                self._v3[name] = (doc, body, _hash(body))
        return self._v3


_CACHE: collections.OrderedDict[Hashable, _Built] = collections.OrderedDict()
_CACHE_SIZE = 4


def _built(types: Sequence[resources.ResourceType]) -> _Built:
    # ResourceType equality ignores crd_version, so the CRD schemas' content joins the key.
    def fingerprint(version: Mapping[str, Any] | None) -> str | None:
        if version is None:
            return None
        data = orjson.dumps(version, option=orjson.OPT_SORT_KEYS, default=_plain)
        return hashlib.sha256(data).hexdigest()

    key = tuple((rt, fingerprint(rt.crd_version)) for rt in types)
    built = _CACHE.get(key)
    if built is None:
        built = _CACHE[key] = _Built(types)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return built


# -- public API --------------------------------------------------------------------------


def invalidate() -> None:
    """Forget every cached document (documents are also keyed by the served types)."""
    _CACHE.clear()


def v2_document(types: Sequence[resources.ResourceType]) -> dict[str, Any]:
    """The Swagger 2.0 document served at ``/openapi/v2``."""
    return _built(types).v2()


def v2_serialized(
    types: Sequence[resources.ResourceType], content_type: str = JSON
) -> tuple[bytes, str]:
    """``(body, etag)`` of ``/openapi/v2`` as JSON or :data:`V2_PROTOBUF`; the ETag is the
    unquoted uppercase sha512 hex of the body."""
    protobuf = content_type in _V2_PROTOBUF_REQUESTED
    return _built(types).v2_bytes(V2_PROTOBUF if protobuf else JSON)


def v3_index(types: Sequence[resources.ResourceType]) -> dict[str, Any]:
    """``/openapi/v3``: each document's path and hash-pinned URL."""
    docs = _built(types).v3()
    return {"paths": {n: {"serverRelativeURL": f"/openapi/v3/{n}?hash={h}"}
                      for n, (_, _, h) in docs.items()}}  # fmt: skip


def v3_document(types: Sequence[resources.ResourceType], gv_path: str) -> dict[str, Any] | None:
    """``/openapi/v3/<gv_path>`` (``api/v1``, ``apis/apps/v1``, ``apis/apps``...), or None."""
    entry = _built(types).v3().get(gv_path.strip("/"))
    return entry[0] if entry else None


def v3_serialized(
    types: Sequence[resources.ResourceType], gv_path: str
) -> tuple[bytes, str] | None:
    """``(JSON body, hash)`` of a v3 document; the hash is the index's ``?hash=`` value and,
    quoted, the ETag. Serve ``Cache-Control: public, immutable`` when the request's hash
    matches, and redirect to the current URL when it does not, as kube-openapi does."""
    entry = _built(types).v3().get(gv_path.strip("/"))
    return (entry[1], entry[2]) if entry else None


def negotiate_openapi(accept: str | None, version: int) -> str | None:
    """The content type to answer ``/openapi/v2`` (JSON or :data:`V2_PROTOBUF`) or
    ``/openapi/v3/*`` (JSON only) with, or None when nothing acceptable is offered (406)."""
    for q, media, _ in discovery.parse_accept(accept or "*/*"):
        if q > 0 and media in (JSON, "application/*", "*/*"):
            return JSON
        if q > 0 and version == 2 and media in _V2_PROTOBUF_REQUESTED:
            return V2_PROTOBUF
    return None


# -- gnostic openapi_v2.Document protobuf encoding ---------------------------------------
# Field numbers are those of gnostic's OpenAPIv2.proto. A table maps a JSON key to (field
# number, encoder); keys starting with "x-" go to the message's vendor_extension field as
# NamedAny. proto3 omits default scalars, except inside a oneof.

_Enc = Callable[[int, Any], bytes]


def _varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF  # negative int64s are ten-byte two's complement
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _key(no: int, wire: int) -> bytes:
    return _varint(no << 3 | wire)


def _ld(no: int, data: bytes) -> bytes:
    return _key(no, 2) + _varint(len(data)) + data


def _p_str(no: int, v: Any) -> bytes:
    return _ld(no, str(v).encode()) if v not in (None, "") else b""


def _p_bool(no: int, v: Any) -> bytes:
    return _key(no, 0) + b"\x01" if v else b""


def _p_int(no: int, v: Any) -> bytes:
    return _key(no, 0) + _varint(int(v)) if v else b""


def _p_double(no: int, v: Any) -> bytes:
    return _key(no, 1) + struct.pack("<d", float(v)) if v else b""


def _p_strs(no: int, v: Any) -> bytes:
    return b"".join(_ld(no, str(s).encode()) for s in v)


def _any(v: Any) -> bytes:
    # Any{yaml = 2}: JSON is valid YAML, and kube-openapi decodes these with a YAML decoder.
    return _ld(2, json.dumps(v).encode())


def _p_any(no: int, v: Any) -> bytes:
    return _ld(no, _any(v))


def _p_anys(no: int, v: Any) -> bytes:
    return b"".join(_p_any(no, x) for x in v)


def _p_msg(enc: Callable[[Any], bytes]) -> _Enc:
    return lambda no, v: _ld(no, enc(v))


def _p_msgs(enc: Callable[[Any], bytes]) -> _Enc:
    return lambda no, v: b"".join(_ld(no, enc(x)) for x in v)


def _p_named(enc: Callable[[Any], bytes]) -> _Enc:
    """A JSON object as repeated ``Named*{name = 1; value = 2}``."""
    return lambda no, v: b"".join(_ld(no, _p_str(1, k) + _ld(2, enc(x))) for k, x in v.items())


def _p_map(enc: Callable[[Any], bytes]) -> _Enc:
    """A message holding only ``repeated Named* additional_properties = 1``."""
    return lambda no, v: _ld(no, _p_named(enc)(1, v))


def _fields(obj: Mapping[str, Any], table: Mapping[str, tuple[int, _Enc]], ext: int) -> bytes:
    out = [enc(no, obj[key]) for key, (no, enc) in table.items() if key in obj]
    out += [_ld(ext, _p_str(1, k) + _ld(2, _any(v))) for k, v in obj.items() if k.startswith("x-")]
    return b"".join(out)


def _message(table: Mapping[str, tuple[int, _Enc]], ext: int) -> Callable[[Any], bytes]:
    return lambda v: _fields(v, table, ext)


def _pb_schema(s: Mapping[str, Any]) -> bytes:
    return _fields(s, _SCHEMA, 31)


def _pb_additional(no: int, v: Any) -> bytes:
    if isinstance(v, bool):  # oneof {Schema schema = 1; bool boolean = 2}: false is encoded
        return _ld(no, _key(2, 0) + _varint(int(v)))
    return _ld(no, _ld(1, _pb_schema(v)))


def _pb_type(no: int, v: Any) -> bytes:
    return _ld(no, _p_strs(1, [v] if isinstance(v, str) else v))


def _pb_items(no: int, v: Any) -> bytes:
    return _ld(no, b"".join(_ld(1, _pb_schema(x)) for x in (v if isinstance(v, list) else [v])))


def _pb_parameter(p: Mapping[str, Any]) -> bytes:
    """``Parameter``: oneof body = 1 / non-body = 2 (header 1, formData 2, query 3, path 4)."""
    where = p.get("in")
    if where == "body":
        return _ld(1, _fields(p, _BODY, 6))
    sub = {"header": 1, "formData": 2, "query": 3, "path": 4}.get(str(where), 3)
    table, ext = (_QUERY, 23) if sub in (2, 3) else (_PATH, 22)
    return _ld(2, _ld(sub, _fields(p, table, ext)))


def _pb_parameters_item(p: Mapping[str, Any]) -> bytes:
    return _ld(2, _p_str(1, p["$ref"])) if "$ref" in p else _ld(1, _pb_parameter(p))


def _pb_response(r: Mapping[str, Any]) -> bytes:
    return _fields(r, _RESPONSE, 5)


def _pb_responses(v: Mapping[str, Any]) -> bytes:
    def value(r: Mapping[str, Any]) -> bytes:
        return _ld(2, _p_str(1, r["$ref"])) if "$ref" in r else _ld(1, _pb_response(r))

    codes = {k: r for k, r in v.items() if not k.startswith("x-")}
    return _p_named(value)(1, codes) + _fields(v, {}, 2)


def _pb_paths(v: Mapping[str, Any]) -> bytes:
    paths = {k: p for k, p in v.items() if not k.startswith("x-")}
    return _fields(v, {}, 1) + _p_named(_message(_PATH_ITEM, 10))(2, paths)


def _pb_security_scheme(v: Mapping[str, Any]) -> bytes:
    if v.get("type") == "basic":
        return _ld(1, _fields(v, _numbered("type description"), 3))
    return _ld(2, _fields(v, _numbered("type name in description"), 5))


# fmt: off
_ENCODERS: dict[str, _Enc] = {
    "allowEmptyValue": _p_bool, "type": _p_str, "format": _p_str, "collectionFormat": _p_str,
    "default": _p_any, "maximum": _p_double, "exclusiveMaximum": _p_bool, "minimum": _p_double,
    "exclusiveMinimum": _p_bool, "maxLength": _p_int, "minLength": _p_int, "pattern": _p_str,
    "maxItems": _p_int, "minItems": _p_int, "uniqueItems": _p_bool, "enum": _p_anys,
    "multipleOf": _p_double, "required": _p_bool, "in": _p_str, "description": _p_str,
    "name": _p_str, "title": _p_str, "url": _p_str, "$ref": _p_str, "summary": _p_str,
    "operationId": _p_str, "tags": _p_strs, "produces": _p_strs, "consumes": _p_strs,
    "schemes": _p_strs, "deprecated": _p_bool, "swagger": _p_str, "host": _p_str,
    "basePath": _p_str, "version": _p_str, "termsOfService": _p_str,
    "items": lambda no, v: _ld(no, _fields(v, _PRIMITIVES, 18)),
    "externalDocs": lambda no, v: _ld(no, _fields(v, _numbered("description url"), 3)),
}


def _numbered(names: str, start: int = 1) -> dict[str, tuple[int, _Enc]]:
    """Consecutive field numbers from ``start``; ``-`` skips a number."""
    return {n: (start + i, _ENCODERS[n]) for i, n in enumerate(names.split()) if n != "-"}


_VALIDATION = ("type format items collectionFormat default maximum exclusiveMaximum minimum "
               "exclusiveMinimum maxLength minLength pattern maxItems minItems uniqueItems enum "
               "multipleOf")
_PRIMITIVES: dict[str, tuple[int, _Enc]] = _numbered(_VALIDATION)
_QUERY = _numbered("required in description name allowEmptyValue " + _VALIDATION)
_PATH = _numbered("required in description name " + _VALIDATION)
_BODY = {**_numbered("description name in required"), "schema": (5, _p_msg(_pb_schema))}
_RESPONSE = {"description": (1, _p_str), "schema": (2, _p_msg(lambda s: _ld(1, _pb_schema(s))))}
_SCHEMA: dict[str, tuple[int, _Enc]] = {
    **_numbered("$ref format title description default multipleOf maximum exclusiveMaximum "
                "minimum exclusiveMinimum maxLength minLength pattern maxItems minItems "
                "uniqueItems"),
    "maxProperties": (17, _p_int), "minProperties": (18, _p_int), "required": (19, _p_strs),
    "enum": (20, _p_anys), "additionalProperties": (21, _pb_additional), "type": (22, _pb_type),
    "items": (23, _pb_items), "allOf": (24, _p_msgs(_pb_schema)),
    "properties": (25, _p_map(_pb_schema)), "discriminator": (26, _p_str),
    "readOnly": (27, _p_bool), **_numbered("externalDocs", 29), "example": (30, _p_any),
}
_SECURITY_REQUIREMENT = _p_msgs(lambda req: _p_named(lambda scopes: _p_strs(1, scopes))(1, req))
_OPERATION = {
    **_numbered("tags summary description externalDocs operationId produces consumes"),
    "parameters": (8, _p_msgs(_pb_parameters_item)), "responses": (9, _p_msg(_pb_responses)),
    **_numbered("schemes deprecated", 10), "security": (12, _SECURITY_REQUIREMENT),
}
_PATH_ITEM = {
    "$ref": (1, _p_str), "parameters": (9, _p_msgs(_pb_parameters_item)),
    **{m: (i, _p_msg(_message(_OPERATION, 13)))
       for i, m in enumerate(("get", "put", "post", "delete", "options", "head", "patch"), 2)},
}
_DOCUMENT = {
    **_numbered("swagger - host basePath schemes consumes produces"),
    "info": (2, _p_msg(_message(_numbered("title version description termsOfService"), 7))),
    "paths": (8, _p_msg(_pb_paths)), "definitions": (9, _p_map(_pb_schema)),
    "parameters": (10, _p_map(_pb_parameter)), "responses": (11, _p_map(_pb_response)),
    "security": (12, _SECURITY_REQUIREMENT),
    "securityDefinitions": (13, _p_map(_pb_security_scheme)),
    "tags": (14, _p_msgs(_message(_numbered("name description externalDocs"), 4))),
    **_numbered("externalDocs", 15),
}
# fmt: on


def v2_protobuf(doc: Mapping[str, Any]) -> bytes:
    """A Swagger 2.0 document as a serialized gnostic ``openapi.v2.Document``."""
    return _fields(doc, _DOCUMENT, 16)
