"""The built-in resource catalog, read from the maintained ``lightkube-models`` package.

Names, kinds, scopes, verbs and subresources all come from lightkube's generated resource
classes (themselves generated from the Kubernetes OpenAPI spec), filtered to the group
versions the emulated release serves by default (GA versions whose kinds exist in the
release's definitions). Only short names and categories are not in any maintained Python
package; they are the small overlay :data:`SHORT_NAMES` / :data:`CATEGORIES`, copied from
the ``ShortNames()``/``Categories()`` methods of kube-apiserver's registries.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Iterator

from pilothouse.apiserver import resources, schemas

#: (lightkube module, served) -- the GA group versions kube-apiserver enables by default.
#: One version per group resource, except where conversion.py converts between them.
_MODULES = (
    "core_v1",
    "apps_v1",
    "batch_v1",
    "autoscaling_v2",
    # Served beside v2 for `kubectl autoscale`; stored as v2 (see conversion.py).
    "autoscaling_v1",
    "policy_v1",
    "coordination_v1",
    "storage_v1",
    "rbac_authorization_v1",
    "discovery_v1",
    "events_v1",
    "networking_v1",
    "node_v1",
    "scheduling_v1",
    "certificates_v1",
    "admissionregistration_v1",
    "apiextensions_v1",
    "apiregistration_v1",
    "authentication_v1",
    "authorization_v1",
    "flowcontrol_apiserver_v1",
)

SHORT_NAMES: dict[str, tuple[str, ...]] = {
    "componentstatuses": ("cs",),
    "configmaps": ("cm",),
    "endpoints": ("ep",),
    "events": ("ev",),
    "limitranges": ("limits",),
    "namespaces": ("ns",),
    "nodes": ("no",),
    "persistentvolumeclaims": ("pvc",),
    "persistentvolumes": ("pv",),
    "pods": ("po",),
    "replicationcontrollers": ("rc",),
    "resourcequotas": ("quota",),
    "serviceaccounts": ("sa",),
    "services": ("svc",),
    "customresourcedefinitions": ("crd", "crds"),
    "daemonsets": ("ds",),
    "deployments": ("deploy",),
    "replicasets": ("rs",),
    "statefulsets": ("sts",),
    "horizontalpodautoscalers": ("hpa",),
    "cronjobs": ("cj",),
    "certificatesigningrequests": ("csr",),
    "ingresses": ("ing",),
    "networkpolicies": ("netpol",),
    "poddisruptionbudgets": ("pdb",),
    "priorityclasses": ("pc",),
    "storageclasses": ("sc",),
}

CATEGORIES: dict[str, tuple[str, ...]] = {
    "pods": ("all",),
    "replicationcontrollers": ("all",),
    "services": ("all",),
    "daemonsets": ("all",),
    "deployments": ("all",),
    "replicasets": ("all",),
    "statefulsets": ("all",),
    "horizontalpodautoscalers": ("all",),
    "cronjobs": ("all",),
    "jobs": ("all",),
}

# Resources stored together with another one, as in kube-apiserver.
_SHARED_STORAGE = {("events.k8s.io", "events"): "events"}

# Discovery verbs from lightkube's method names.
_VERB_MAP = {
    "post": "create",
    "put": "update",
    "delete": "delete",
    "deletecollection": "deletecollection",
    "get": "get",
    "list": "list",
    "patch": "patch",
    "watch": "watch",
}


def _lightkube_classes() -> Iterator[tuple[type, object]]:
    for mod_name in _MODULES:
        module = importlib.import_module(f"lightkube.resources.{mod_name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            info = getattr(cls, "_api_info", None)
            if info is not None and cls.__module__ == module.__name__:
                yield cls, info


@functools.cache
def builtin_types() -> tuple[resources.ResourceType, ...]:
    """Every built-in resource type served, in a stable order."""
    from lightkube.core import resource as lk

    subresources: dict[tuple[str, str, str], list[str]] = {}
    mains: list[tuple[type, object]] = []
    for cls, info in _lightkube_classes():
        if getattr(info, "action", None):
            parent = info.parent  # type: ignore[attr-defined]
            key = (parent.group, parent.version, info.plural)  # type: ignore[attr-defined]
            subresources.setdefault(key, []).append(info.action)  # type: ignore[attr-defined]
        else:
            mains.append((cls, info))

    out: list[resources.ResourceType] = []
    for cls, info in mains:
        rdef = info.resource  # type: ignore[attr-defined]
        api_version = f"{rdef.group}/{rdef.version}" if rdef.group else rdef.version
        verbs = tuple(sorted({_VERB_MAP[v] for v in info.verbs if v in _VERB_MAP}))  # type: ignore[attr-defined]
        if "post" in info.verbs and verbs == ("create",):  # type: ignore[attr-defined]
            pass  # create-only virtual resources (reviews, bindings) are served as such
        elif schemas.builtin_definition_name(api_version, rdef.kind) is None:
            continue  # not part of the emulated release
        plural = info.plural  # type: ignore[attr-defined]
        subs = tuple(sorted(subresources.get((rdef.group, rdef.version, plural), ())))
        out.append(
            resources.ResourceType(
                group=rdef.group,
                version=rdef.version,
                kind=rdef.kind,
                plural=plural,
                singular=rdef.kind.lower(),
                namespaced=issubclass(cls, (lk.NamespacedResource, lk.NamespacedSubResource)),
                verbs=verbs,
                short_names=SHORT_NAMES.get(plural, ()),
                categories=CATEGORIES.get(plural, ()),
                subresources=subs,
                scale=resources.ScalePaths() if "scale" in subs else None,
                storage=_SHARED_STORAGE.get((rdef.group, plural)),
            )
        )
    return tuple(out)
