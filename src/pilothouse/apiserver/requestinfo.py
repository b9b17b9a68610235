"""Turning a URL into a :class:`RequestInfo`, as kube-apiserver's RequestInfoFactory does.

Resource URLs have these shapes (``/api/v1`` for the core group, ``/apis/<group>/<version>``
for the others)::

    <prefix>/<resource>                                  list, create, deletecollection
    <prefix>/<resource>/<name>[/<subresource>]           cluster-scoped object
    <prefix>/namespaces/<ns>/<resource>                  namespaced collection
    <prefix>/namespaces/<ns>/<resource>/<name>[/<sub>]   namespaced object
    <prefix>/watch/...                                   legacy watch form of the above

``namespaces/<name>`` itself is the cluster-scoped Namespace object, and
``namespaces/<name>/status|finalize`` its subresources.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RequestInfo:
    """What a resource request is about. ``verb`` uses the Kubernetes authorization verbs:
    get, list, watch, create, update, patch, delete, deletecollection."""

    group: str
    version: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    verb: str = ""
    namespaced_path: bool = False


def parse(path: str, method: str, *, watch_param: bool) -> RequestInfo | None:
    """Parse a resource URL; None if it is not one (discovery, health, ...)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    if parts[0] == "api":
        if len(parts) < 3:
            return None
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis":
        if len(parts) < 4:
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None

    legacy_watch = False
    if rest and rest[0] == "watch":
        legacy_watch = True
        rest = rest[1:]
        if not rest:
            return None

    info = RequestInfo(group=group, version=version, resource="")
    # namespaces/<ns>/<resource>/... ; but namespaces/<name>/{status,finalize} is the
    # Namespace object's subresource.
    namespace_status = group == "" and len(rest) == 3 and rest[2] in ("status", "finalize")
    if rest[0] == "namespaces" and namespace_status:
        info.resource, info.name, info.subresource = "namespaces", rest[1], rest[2]
    else:
        if rest[0] == "namespaces" and len(rest) >= 3:
            info.namespace = rest[1]
            info.namespaced_path = True
            rest = rest[2:]
        info.resource = rest[0]
        if len(rest) > 1:
            info.name = rest[1]
        if len(rest) > 2:
            info.subresource = rest[2]
        if len(rest) > 3:
            return None

    m = method.upper()
    if legacy_watch:
        info.verb = "watch"
    elif m in ("GET", "HEAD"):
        if info.name:
            info.verb = "get"
        else:
            info.verb = "watch" if watch_param else "list"
    elif m == "POST":
        info.verb = "create"
    elif m == "PUT":
        info.verb = "update"
    elif m == "PATCH":
        info.verb = "patch"
    elif m == "DELETE":
        info.verb = "delete" if info.name else "deletecollection"
    else:
        info.verb = m.lower()
    return info
