"""What a client needs to know to address a kind of object: :class:`Kind`.

A :class:`Kind` names one served resource (group, version, kind, plural, scope). The client
builds URLs from it, the informer cache keys its stores on it, and the runtime names its
controllers and metrics after it. It is deliberately small and hashable: the API server's
richer ``ResourceType`` lives on the server side and is never imported by clients.

Where a kind comes from:

* built-in kinds: :func:`builtin` (a table of the common ones; anything else is resolved
  through discovery by the client);
* custom resources declared in Python: ``pilothouse.crd`` models carry their own;
* any object dict: :func:`gvk_of` reads ``apiVersion``/``kind``; the client maps it to a
  :class:`Kind` through discovery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        return f"{self.api_version}, Kind={self.kind}"


@dataclass(frozen=True, slots=True)
class Kind:
    """One resource as clients address it: ``/apis/{group}/{version}/{plural}``."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind(self.group, self.version, self.kind)

    @property
    def group_resource(self) -> str:
        """``deployments.apps``, ``configmaps``: how kube names a resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection or object URL path (no subresource, no query)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base = f"{base}/namespaces/{namespace}"
        base = f"{base}/{self.plural}"
        return f"{base}/{name}" if name else base

    def __str__(self) -> str:
        return self.group_resource


def parse_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → ``("apps", "v1")``; ``v1`` → ``("", "v1")``."""
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", api_version)


def gvk_of(obj: Mapping[str, Any]) -> GroupVersionKind:
    """The group/version/kind an object dict declares; ValueError if it declares none."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if not isinstance(api_version, str) or not api_version:
        raise ValueError("object has no apiVersion")
    if not isinstance(kind, str) or not kind:
        raise ValueError("object has no kind")
    group, version = parse_api_version(api_version)
    return GroupVersionKind(group, version, kind)


def _k(api_version: str, kind: str, plural: str, namespaced: bool = True) -> Kind:
    group, version = parse_api_version(api_version)
    return Kind(group, version, kind, plural, namespaced)


#: The built-in kinds operators use most, so that common code needs no discovery round trip.
BUILTIN: dict[GroupVersionKind, Kind] = {
    k.gvk: k
    for k in (
        _k("v1", "ConfigMap", "configmaps"),
        _k("v1", "Secret", "secrets"),
        _k("v1", "Service", "services"),
        _k("v1", "ServiceAccount", "serviceaccounts"),
        _k("v1", "Pod", "pods"),
        _k("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        _k("v1", "PersistentVolume", "persistentvolumes", False),
        _k("v1", "Endpoints", "endpoints"),
        _k("v1", "Event", "events"),
        _k("v1", "Namespace", "namespaces", False),
        _k("v1", "Node", "nodes", False),
        _k("apps/v1", "Deployment", "deployments"),
        _k("apps/v1", "StatefulSet", "statefulsets"),
        _k("apps/v1", "DaemonSet", "daemonsets"),
        _k("apps/v1", "ReplicaSet", "replicasets"),
        _k("batch/v1", "Job", "jobs"),
        _k("batch/v1", "CronJob", "cronjobs"),
        _k("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        _k("networking.k8s.io/v1", "Ingress", "ingresses"),
        _k("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        _k("coordination.k8s.io/v1", "Lease", "leases"),
        _k("events.k8s.io/v1", "Event", "events"),
        _k("rbac.authorization.k8s.io/v1", "Role", "roles"),
        _k("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        _k("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
        _k("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
        _k(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            False,
        ),
        _k(
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
            False,
        ),
        _k(
            "admissionregistration.k8s.io/v1",
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
            False,
        ),
        _k("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        _k("storage.k8s.io/v1", "StorageClass", "storageclasses", False),
    )
}

CONFIGMAP = BUILTIN[GroupVersionKind("", "v1", "ConfigMap")]
SECRET = BUILTIN[GroupVersionKind("", "v1", "Secret")]
SERVICE = BUILTIN[GroupVersionKind("", "v1", "Service")]
POD = BUILTIN[GroupVersionKind("", "v1", "Pod")]
NAMESPACE = BUILTIN[GroupVersionKind("", "v1", "Namespace")]
DEPLOYMENT = BUILTIN[GroupVersionKind("apps", "v1", "Deployment")]
STATEFULSET = BUILTIN[GroupVersionKind("apps", "v1", "StatefulSet")]
LEASE = BUILTIN[GroupVersionKind("coordination.k8s.io", "v1", "Lease")]
EVENT = BUILTIN[GroupVersionKind("events.k8s.io", "v1", "Event")]
CRD = BUILTIN[GroupVersionKind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")]
VALIDATING_WEBHOOK_CONFIGURATION = BUILTIN[
    GroupVersionKind("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration")
]
MUTATING_WEBHOOK_CONFIGURATION = BUILTIN[
    GroupVersionKind("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration")
]


def builtin(api_version: str, kind: str) -> Kind | None:
    """The built-in :class:`Kind` for ``apiVersion``/``kind``, if it is a common one."""
    group, version = parse_api_version(api_version)
    return BUILTIN.get(GroupVersionKind(group, version, kind))
