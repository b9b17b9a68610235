"""The ``paths`` of the documents: every operation kube-apiserver publishes for the served
types, modelled once (:class:`Operation`, :class:`PathItem`) and rendered to v2 or v3.

What kubectl relies on: ``x-kubernetes-group-version-kind`` and ``x-kubernetes-action`` on
each operation (``kubectl explain`` finds kinds through them), the PATCH operation's accepted
content types (client-side apply computes a strategic merge patch only when it lists
``application/strategic-merge-patch+json``) and its own ``fieldValidation`` parameter
(``--validate`` leaves validation to the server then).

Design choices: operation ids, tags and descriptions follow kube-apiserver's naming
(``listAppsV1NamespacedDeployment``); parameters are inlined everywhere, because kubectl's
v3 check does not resolve parameter refs; the deprecated ``/watch/`` paths are not published.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pilothouse.apiserver import discovery, resources, schemas
from pilothouse.apiserver.openapi.definitions import META, kind_def, ref
from pilothouse.apiserver.openapi.negotiation import JSON

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


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation of a path, as both versions render it."""

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
class PathItem:
    """One path with its operations and path-level parameters."""

    path: str
    doc: str  # the /openapi/v3 document holding this path
    tag: str
    params: tuple[str, ...] = ("pretty",)
    name_of: str = ""  # the kind a {name} path parameter names
    ops: list[Operation] = dataclasses.field(default_factory=list)


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
             patch_types: tuple[str, ...]) -> Operation:  # fmt: skip
    """The operation for a standard verb on an object (or subresource) of ``target``."""
    method = _VERBS[verb][0]
    if verb == "get":
        return Operation(method, op_id, desc, method, gvk, response=target)
    if verb == "delete":
        return Operation(method, op_id, desc, method, gvk, _DELETE_Q, META + "DeleteOptions",
                         False, META + "Status", ("200", "202"))  # fmt: skip
    codes = ("200", "201", "202") if verb == "create" else ("200", "201")
    if verb == "patch":
        return Operation(method, op_id, desc, method, gvk, _PATCH_Q, META + "Patch", True,
                         target, codes, patch_types)  # fmt: skip
    return Operation(method, op_id, desc, method, gvk, _WRITE_Q, target, True, target, codes)


def _resource_paths(rt: resources.ResourceType) -> list[PathItem]:
    prefix = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
    doc, tag, gv = prefix[1:], _tag(rt.group, rt.version), _gv_id(rt.group, rt.version)
    kind, gvk = rt.kind, (rt.group, rt.version, rt.kind)
    scope = "Namespaced" if rt.namespaced else ""
    object_def, list_def = kind_def(rt), kind_def(rt, "List")
    base = f"{prefix}/namespaces/{{namespace}}" if rt.namespaced else prefix
    base += f"/{rt.plural}"
    patch_types = _CR_PATCH_TYPES if rt.is_custom else _PATCH_TYPES
    coll = PathItem(base, doc, tag, (*_ns(rt), "pretty"))
    item = PathItem(base + "/{name}", doc, tag, ("name", *_ns(rt), "pretty"), kind)
    out = [coll, item]
    if rt.supports("list"):
        desc, watch = f"list or watch objects of kind {kind}", (*_PRODUCES, f"{JSON};stream=watch")
        for path, op_id in (
            (coll, f"list{gv}{scope}{kind}"),
            (None, f"list{gv}{kind}ForAllNamespaces"),
        ):
            op = Operation(
                "get", op_id, desc, "list", gvk, _LIST_Q, response=list_def, produces=watch
            )
            if path is not None:
                path.ops.append(op)
            elif rt.namespaced:
                out.append(PathItem(f"{prefix}/{rt.plural}", doc, tag, ops=[op]))
    if rt.supports("create"):
        coll.ops.append(_verb_op("create", f"create{gv}{scope}{kind}", f"create a {kind}", gvk,
                                 object_def, patch_types))  # fmt: skip
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
            item.ops.append(_verb_op(verb, op_id, desc, gvk, object_def, patch_types))
    for sub in rt.subresources:
        out.append(_subresource_path(rt, sub, base, doc, f"{gv}{scope}{kind}", patch_types))
    return [p for p in out if p.ops]


def _subresource_path(rt: resources.ResourceType, sub: str, base: str, doc: str, ids: str,
                      patch_types: tuple[str, ...]) -> PathItem:  # fmt: skip
    sgvk = discovery.subresource_gvk(rt, sub)
    if sgvk == (rt.group, rt.version, rt.kind):
        target = kind_def(rt)
    else:
        target = schemas.builtin_definition_name(f"{sgvk[0]}/{sgvk[1]}".lstrip("/"), sgvk[2])
    suffix = sub[:1].upper() + sub[1:]
    path = PathItem(f"{base}/{{name}}/{sub}", doc, _tag(rt.group, rt.version),
                 ("name", *_ns(rt), "pretty"), rt.kind)  # fmt: skip
    for verb in discovery.subresource_verbs(sub):
        method, id_prefix, text = _VERBS[verb]
        if sub in _CONNECT:
            op_id = f"connect{method.title()}{ids}{suffix}"
            desc = f"connect {method.upper()} requests to {sub} of {rt.kind}"
            path.ops.append(Operation(method, op_id, desc, "connect", sgvk, produces=("*/*",)))
        elif sub == "log":
            desc, produces = f"read log of the specified {rt.kind}", ("text/plain", *_PRODUCES)
            path.ops.append(
                Operation("get", f"read{ids}{suffix}", desc, "get", sgvk, _LOG_Q, produces=produces)
            )
        else:
            desc = f"{text} {sub} of the specified {rt.kind}"
            path.ops.append(
                _verb_op(verb, f"{id_prefix}{ids}{suffix}", desc, sgvk, target, patch_types)
            )
    return path


def all_paths(types: Sequence[resources.ResourceType]) -> list[PathItem]:
    """Every path: the discovery endpoints, then each resource's."""

    def get(path: str, doc: str, tag: str, op_id: str, response: str) -> PathItem:
        op = Operation("get", op_id, "get information about the served API", None, None,
                       response=response, consumes=_PRODUCES)  # fmt: skip
        return PathItem(path, doc, tag, (), ops=[op])

    out = [
        get("/api/", "api", "core", "getCoreAPIVersions", META + "APIVersions"),
        get("/apis/", "apis", "apis", "getAPIVersions", META + "APIGroupList"),
        get("/version/", "version", "version", "getCodeVersion", _VERSION_INFO),
    ]  # fmt: skip
    for group, versions in discovery.group_versions(types):
        if group:
            op_id = f"get{_camel(group)}APIGroup"
            out.append(
                get(f"/apis/{group}/", f"apis/{group}", _tag(group), op_id, META + "APIGroup")
            )
        for version in versions:
            doc = f"apis/{group}/{version}" if group else f"api/{version}"
            op_id = f"get{_gv_id(group, version)}APIResources"
            out.append(get(f"/{doc}/", doc, _tag(group, version), op_id, META + "APIResourceList"))
    for rt in types:
        out.extend(_resource_paths(rt))
    return out


def _param(name: str, name_of: str, v3: bool) -> dict[str, Any]:
    where = "path" if name in ("name", "namespace") else "query"
    typ, desc = _PARAMS.get(name, ("string", f"name of the {name_of}"))
    required = {"required": True} if where == "path" else {}
    if v3:
        return {"name": name, "in": where, "description": desc, **required,
                "schema": {"type": typ, "uniqueItems": True}}  # fmt: skip
    return {"uniqueItems": True, "type": typ, "description": desc, "name": name, "in": where,
            **required}  # fmt: skip


def _render_op(op: Operation, tag: str, v3: bool) -> dict[str, Any]:
    """One operation; parameters are inlined (kubectl's v3 check for ``fieldValidation``
    does not resolve parameter refs)."""
    codes: dict[str, dict[str, Any]] = {c: {"description": _CODES[c]} for c in (*op.codes, "401")}
    params = [_param(q, "", v3) for q in op.query]
    schema = ref(op.response, v3) if op.response is not None else {"type": "string"}
    if v3:
        out: dict[str, Any] = {
            "tags": [tag],
            "description": op.description,
            "operationId": op.op_id,
        }
        if params:
            out["parameters"] = params
        if op.body is not None:
            content = {t: {"schema": ref(op.body, True)} for t in op.consumes}
            out["requestBody"] = {"content": content, "required": op.body_required}
        for code in op.codes:
            codes[code]["content"] = {t: {"schema": schema} for t in op.produces}
    else:
        out = {"description": op.description, "consumes": list(op.consumes),
               "produces": list(op.produces), "schemes": ["https"], "tags": [tag],
               "operationId": op.op_id}  # fmt: skip
        if op.body is not None:
            params.insert(0, {"name": "body", "in": "body", "required": op.body_required,
                              "schema": ref(op.body, False)})  # fmt: skip
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


def render_paths(paths: Sequence[PathItem], v3: bool) -> tuple[dict[str, Any], set[str]]:
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
