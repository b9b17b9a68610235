"""API discovery documents: ``/version``, ``/api``, ``/apis``, ``/apis/<group>``, the
per-group-version ``APIResourceList`` and aggregated discovery (``apidiscovery.k8s.io``).

Everything here is a pure function of the served :class:`~.resources.ResourceType` sequence
returning JSON-able dicts, so the router can cache the results (they only change when a CRD
does) and tests need no server.

Shapes follow kube-apiserver 1.32 (``k8s.io/apiserver/pkg/endpoints/discovery`` and
``.../discovery/aggregated``) and what client-go 1.32 decodes:

* client-go asks ``/api`` and ``/apis`` with ``Accept: application/json;g=apidiscovery.k8s.io;
  v=v2;as=APIGroupDiscoveryList,<same with v=v2beta1>,application/json`` and decides how to
  decode from the response ``Content-Type`` alone (it parses the media type and compares the
  ``g``/``v``/``as`` parameters, in any order), so the aggregated answer must echo them:
  :func:`negotiate_discovery` + :func:`discovery_content_type`. With aggregated discovery
  client-go never fetches the per-group-version lists; they are still served for older clients
  and for ``kubectl get --raw``.
* Groups come in priority order, the core group first (it is served separately at ``/api``);
  we keep a stable order: built-in groups as the catalog lists them, then CRD groups sorted by
  name. Versions within a group are in kube-aware preference order (``v2`` > ``v1`` >
  ``v1beta2`` > ``v1beta1`` > ``v1alpha1`` > anything else alphabetically); the first is
  the preferred version, as for CRDs on the real server.
* Resource lists are sorted by name with subresources (``pods/status``) right after their
  parent, exactly as the real installer's sorted paths come out. A subresource entry carries
  its own kind and verbs (``deployments/scale`` is ``autoscaling/v1 Scale`` with
  get/patch/update, ``pods/eviction`` is ``policy/v1 Eviction`` with create); its
  ``group``/``version`` are only set when they differ from the list's group version.
* ``storageVersionHash`` is the real algorithm (first 8 bytes of sha256 of
  ``group/version/kind`` of the storage version, base64) so clients that use it to detect
  storage migrations see stable values; it is set on persisted resources only.
* Aggregated responses carry an ETag (uppercase sha512 hex of the body) and ``Vary: Accept``
  in the real server; :func:`discovery_etag` computes the former for the router.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pilothouse.apiserver import resources, schemas

DiscoveryFormat = Literal["aggregated-v2", "aggregated-v2beta1", "legacy"]

DISCOVERY_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"

_GET_PATCH_UPDATE = ("get", "patch", "update")
# Verbs each subresource answers, from the real registries (connect-style subresources
# answer the HTTP verbs their REST storage implements).
_SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": _GET_PATCH_UPDATE,
    "scale": _GET_PATCH_UPDATE,
    "approval": _GET_PATCH_UPDATE,
    "ephemeralcontainers": _GET_PATCH_UPDATE,
    "resize": _GET_PATCH_UPDATE,
    "eviction": ("create",),
    "binding": ("create",),
    "token": ("create",),
    "log": ("get",),
    "finalize": ("update",),
    "attach": ("create", "get"),
    "exec": ("create", "get"),
    "portforward": ("create", "get"),
    "proxy": ("create", "delete", "get", "patch", "update"),
}
# Subresources whose body is another kind than the parent's.
_SUBRESOURCE_KINDS: dict[str, tuple[str, str, str]] = {
    "scale": ("autoscaling", "v1", "Scale"),
    "eviction": ("policy", "v1", "Eviction"),
    "binding": ("", "v1", "Binding"),
    "token": ("authentication.k8s.io", "v1", "TokenRequest"),
    "attach": ("", "v1", "PodAttachOptions"),
    "exec": ("", "v1", "PodExecOptions"),
    "portforward": ("", "v1", "PodPortForwardOptions"),
}

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


# -- helpers shared with the OpenAPI documents -------------------------------------------


def subresource_gvk(rt: resources.ResourceType, sub: str) -> tuple[str, str, str]:
    """``(group, version, kind)`` a subresource reads and writes."""
    if sub in _SUBRESOURCE_KINDS:
        return _SUBRESOURCE_KINDS[sub]
    if sub == "proxy":
        return ("", "v1", f"{rt.kind}ProxyOptions")
    return (rt.group, rt.version, rt.kind)


def subresource_verbs(sub: str) -> tuple[str, ...]:
    return _SUBRESOURCE_VERBS.get(sub, _GET_PATCH_UPDATE)


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting versions in kube-aware preference order (most preferred first)."""
    m = _VERSION_RE.match(version)
    if m is None:
        return (3, 0, 0, version)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, "")


def group_versions(types: Iterable[resources.ResourceType]) -> list[tuple[str, list[str]]]:
    """``[(group, versions most-preferred first)]`` in server priority order, core first."""
    builtin: dict[str, set[str]] = {}
    custom: dict[str, set[str]] = {}
    for rt in types:
        (custom if rt.is_custom else builtin).setdefault(rt.group, set()).add(rt.version)
    for group, versions in custom.items():
        if group in builtin:  # cannot happen on a real server; keep the built-in position
            builtin[group] |= versions
    order = list(builtin) + sorted(g for g in custom if g not in builtin)
    order.sort(key=lambda g: g != "")  # stable: only moves core to the front
    merged = {**custom, **builtin}
    return [(g, sorted(merged[g], key=version_priority)) for g in order]


def storage_version_hash(group: str, version: str, kind: str) -> str:
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def discovery_etag(body: bytes) -> str:
    """The quoted ``ETag`` value for a discovery response body."""
    return '"' + hashlib.sha512(body).hexdigest().upper() + '"'


# -- /version, /api, /apis ---------------------------------------------------------------


def _platform() -> str:
    system = platform.system().lower() or "linux"
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine or "amd64")
    return f"{system}/{arch}"


def version_info() -> dict[str, str]:
    """``/version``. ``gitVersion`` must look like a real release: version-dispatching
    kubectl wrappers pick the client build from the server's major/minor/gitVersion."""
    major, minor, _ = schemas.KUBE_VERSION.split(".")
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{schemas.KUBE_VERSION}",
        "gitCommit": hashlib.sha1(b"pilothouse " + schemas.KUBE_VERSION.encode()).hexdigest(),
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": _platform(),
    }


def api_versions(server_address: str = "127.0.0.1:6443") -> dict[str, Any]:
    """``/api`` (legacy form): the core group's only version."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_body(group: str, versions: Sequence[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(types: Sequence[resources.ResourceType]) -> dict[str, Any]:
    """``/apis`` (legacy form)."""
    groups = [_group_body(g, vs) for g, vs in group_versions(types) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(types: Sequence[resources.ResourceType], group: str) -> dict[str, Any] | None:
    """``/apis/<group>``, or None for a group not served."""
    for g, versions in group_versions(types):
        if g == group and g:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_body(g, versions)}
    return None


# -- /api/v1, /apis/<group>/<version> ----------------------------------------------------


def _resource_entry(rt: resources.ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.persisted:
        storage = rt.storage_version or rt.version
        entry["storageVersionHash"] = storage_version_hash(rt.group, storage, rt.kind)
    return entry


def _subresource_entry(rt: resources.ResourceType, sub: str) -> dict[str, Any]:
    group, version, kind = subresource_gvk(rt, sub)
    entry: dict[str, Any] = {
        "name": f"{rt.plural}/{sub}",
        "singularName": "",
        "namespaced": rt.namespaced,
    }
    if (group, version) != (rt.group, rt.version):
        entry["group"] = group
        entry["version"] = version
    entry["kind"] = kind
    entry["verbs"] = list(subresource_verbs(sub))
    return entry


def api_resource_list(
    types: Sequence[resources.ResourceType], group: str, version: str
) -> dict[str, Any] | None:
    """``/api/v1`` or ``/apis/<group>/<version>``, or None for a group version not served."""
    entries: list[dict[str, Any]] = []
    found = False
    for rt in types:
        if rt.group != group or rt.version != version:
            continue
        found = True
        entries.append(_resource_entry(rt))
        entries.extend(_subresource_entry(rt, sub) for sub in rt.subresources)
    if not found:
        return None
    entries.sort(key=lambda e: str(e["name"]))
    out: dict[str, Any] = {"kind": "APIResourceList"}
    if group:  # the core list has no apiVersion on the real server
        out["apiVersion"] = "v1"
    out["groupVersion"] = f"{group}/{version}" if group else version
    out["resources"] = entries
    return out


# -- aggregated discovery (apidiscovery.k8s.io) ------------------------------------------


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resource(rt: resources.ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": _gvk(rt.group, rt.version, rt.kind),
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = [
        {
            "subresource": sub,
            "responseKind": _gvk(*subresource_gvk(rt, sub)),
            "verbs": list(subresource_verbs(sub)),
        }
        for sub in sorted(rt.subresources)
    ]
    if subs:
        entry["subresources"] = subs
    return entry


def _aggregated_group(
    types: Sequence[resources.ResourceType], group: str, versions: Sequence[str]
) -> dict[str, Any]:
    # The real server marshals ObjectMeta's zero creationTimestamp as null.
    meta: dict[str, Any] = {"name": group} if group else {}
    meta["creationTimestamp"] = None
    out_versions = []
    for version in versions:
        res = [
            _aggregated_resource(rt) for rt in types if (rt.group, rt.version) == (group, version)
        ]
        res.sort(key=lambda r: str(r["resource"]))
        out_versions.append({"version": version, "resources": res, "freshness": "Current"})
    return {"metadata": meta, "versions": out_versions}


def _aggregated_list(items: list[dict[str, Any]], version: str) -> dict[str, Any]:
    return {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{DISCOVERY_GROUP}/{version}",
        "metadata": {},
        "items": items,
    }


def aggregated_core(types: Sequence[resources.ResourceType], version: str = "v2") -> dict[str, Any]:
    """``/api`` as an ``APIGroupDiscoveryList`` (``version`` is ``v2`` or ``v2beta1``)."""
    items = [_aggregated_group(types, g, vs) for g, vs in group_versions(types) if not g]
    return _aggregated_list(items, version)


def aggregated_groups(
    types: Sequence[resources.ResourceType], version: str = "v2"
) -> dict[str, Any]:
    """``/apis`` as an ``APIGroupDiscoveryList`` (``version`` is ``v2`` or ``v2beta1``)."""
    items = [_aggregated_group(types, g, vs) for g, vs in group_versions(types) if g]
    return _aggregated_list(items, version)


# -- content negotiation -----------------------------------------------------------------


def parse_accept(accept: str) -> list[tuple[float, str, dict[str, str]]]:
    """``(q, media type, parameters)`` per ``Accept`` clause, most preferred first."""
    clauses: list[tuple[float, str, dict[str, str]]] = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        if not fields[0]:
            continue
        params: dict[str, str] = {}
        for f in fields[1:]:
            key, sep, value = f.partition("=")
            if sep:
                params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        clauses.append((q, fields[0].lower(), params))
    # Stable sort: equal q keeps the client's order, as goautoneg does.
    clauses.sort(key=lambda c: -c[0])
    return clauses


def negotiate_discovery(accept_header: str | None) -> tuple[DiscoveryFormat, str]:
    """Which document ``/api`` and ``/apis`` answer with for this ``Accept`` header, and the
    ``Content-Type`` to declare (see :func:`discovery_content_type`).

    The first acceptable clause wins (by ``q``, then order). Clauses asking for protobuf or
    for a kind we do not serve are skipped; if nothing is acceptable the legacy JSON
    document is served rather than a 406, which is what every JSON client wants anyway.
    """
    fmt: DiscoveryFormat = "legacy"
    for q, media, params in parse_accept(accept_header or ""):
        if q <= 0 or media not in ("application/json", "application/*", "*/*"):
            continue
        g, v, as_ = params.get("g"), params.get("v"), params.get("as")
        if g is None and v is None and as_ is None:
            break
        if g == DISCOVERY_GROUP and as_ == AGGREGATED_KIND and v in ("v2", "v2beta1"):
            fmt = "aggregated-v2" if v == "v2" else "aggregated-v2beta1"
            break
    return fmt, discovery_content_type(fmt)


def aggregated_version(fmt: DiscoveryFormat) -> str:
    """``v2``/``v2beta1`` for an aggregated format (to pass to :func:`aggregated_core`)."""
    return "v2beta1" if fmt == "aggregated-v2beta1" else "v2"


def discovery_content_type(fmt: DiscoveryFormat) -> str:
    """The response ``Content-Type``; aggregated answers echo the ``g``/``v``/``as``
    parameters because client-go picks its decoder from them."""
    if fmt == "legacy":
        return "application/json"
    return f"application/json;g={DISCOVERY_GROUP};v={aggregated_version(fmt)};as={AGGREGATED_KIND}"
