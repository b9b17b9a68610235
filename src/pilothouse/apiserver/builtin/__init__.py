"""Server-side defaulting and validation of the built-in resources.

Two entry points, keyed by group resource (``pods``, ``deployments.apps``,
``customresourcedefinitions.apiextensions.k8s.io``...):

* :func:`default` fills in, in place, what kube-apiserver 1.32 fills in when it decodes a
  request: the registered defaulters (``pkg/apis/<group>/v1/defaults.go`` and the
  generated ``zz_generated.defaults.go``), plus the mutations of always-on admission
  plugins and strategies that clients experience as defaults (a pod's service account,
  default tolerations and priority; a Job's generated selector; a Secret's ``stringData``
  folded into ``data``). Defaulting is idempotent and runs on create and on update.
* :func:`validate` returns the causes of a 422 ``Invalid`` answer, worded and pathed as
  ``pkg/apis/<group>/validation`` words them. ``old`` is None on create and the stored
  object on update, where the update rules (immutable fields...) apply as well.

Design choices:

* Kinds without a registered function are accepted untouched: no-op defaulting, no
  errors. Metadata (names, labels, annotations, generic finalizer rules) is the caller's
  (:mod:`pilothouse.apiserver.rest.objectmeta`); this package adds only what is specific
  to a kind, such as the CRD ``<plural>.<group>`` name rule and the core "standard
  finalizer name" rule below.
* The caller owns identity and allocation: it sets ``metadata.uid`` before defaulting
  (Jobs derive their selector from it), allocates service IPs and node ports before
  validation, and performs create-only strategy steps (a pod's initial status, a
  namespace's ``kubernetes`` finalizer). A defaulter must never re-add something a
  controller is allowed to remove later, since it runs on every update.
* Objects are decoded JSON (``dict``). Type checking happened before; functions here skip
  malformed branches instead of raising, so a wrong type never becomes a 500.
"""

from __future__ import annotations

from collections.abc import Callable

from pilothouse.apiserver.builtin import (
    defaults_admission,
    defaults_apps,
    defaults_batch,
    defaults_core,
    defaults_other,
    validation_admission,
    validation_apps,
    validation_batch,
    validation_core,
    validation_crd,
    validation_other,
    validation_pods,
    validation_service,
)
from pilothouse.apiserver.builtin._util import Obj, as_dict, index
from pilothouse.apiserver.errors import Cause

__all__ = ["DEFAULTERS", "VALIDATORS", "default", "validate"]

Defaulter = Callable[[Obj], None]
Validator = Callable[[Obj, Obj | None], list[Cause]]

_ADMISSION = "admissionregistration.k8s.io"

#: Group resource -> defaulter.
DEFAULTERS: dict[str, Defaulter] = {
    "pods": defaults_core.default_pods,
    "podtemplates": defaults_core.default_podtemplates,
    "replicationcontrollers": defaults_core.default_replicationcontrollers,
    "services": defaults_core.default_services,
    "namespaces": defaults_core.default_namespaces,
    "persistentvolumeclaims": defaults_core.default_persistentvolumeclaims,
    "persistentvolumes": defaults_core.default_persistentvolumes,
    "secrets": defaults_core.default_secrets,
    "endpoints": defaults_core.default_endpoints,
    "nodes": defaults_core.default_nodes,
    "limitranges": defaults_core.default_limitranges,
    "resourcequotas": defaults_core.default_resourcequotas,
    "deployments.apps": defaults_apps.default_deployments,
    "replicasets.apps": defaults_apps.default_replicasets,
    "statefulsets.apps": defaults_apps.default_statefulsets,
    "daemonsets.apps": defaults_apps.default_daemonsets,
    "jobs.batch": defaults_batch.default_jobs,
    "cronjobs.batch": defaults_batch.default_cronjobs,
    "horizontalpodautoscalers.autoscaling": defaults_other.default_horizontalpodautoscalers,
    "storageclasses.storage.k8s.io": defaults_other.default_storageclasses,
    "csidrivers.storage.k8s.io": defaults_other.default_csidrivers,
    "endpointslices.discovery.k8s.io": defaults_other.default_endpointslices,
    "networkpolicies.networking.k8s.io": defaults_other.default_networkpolicies,
    "ingressclasses.networking.k8s.io": defaults_other.default_ingressclasses,
    "priorityclasses.scheduling.k8s.io": defaults_other.default_priorityclasses,
    "rolebindings.rbac.authorization.k8s.io": defaults_other.default_rolebindings,
    "clusterrolebindings.rbac.authorization.k8s.io": defaults_other.default_rolebindings,
    "apiservices.apiregistration.k8s.io": defaults_other.default_apiservices,
    f"validatingwebhookconfigurations.{_ADMISSION}": (
        defaults_admission.default_validatingwebhookconfigurations
    ),
    f"mutatingwebhookconfigurations.{_ADMISSION}": (
        defaults_admission.default_mutatingwebhookconfigurations
    ),
    f"validatingadmissionpolicies.{_ADMISSION}": (
        defaults_admission.default_validatingadmissionpolicies
    ),
    f"validatingadmissionpolicybindings.{_ADMISSION}": (
        defaults_admission.default_validatingadmissionpolicybindings
    ),
    "customresourcedefinitions.apiextensions.k8s.io": (
        defaults_admission.default_customresourcedefinitions
    ),
}

#: Group resource -> validator.
VALIDATORS: dict[str, Validator] = {
    "pods": validation_pods.validate_pods,
    "podtemplates": validation_pods.validate_podtemplates,
    "replicationcontrollers": validation_core.validate_replicationcontrollers,
    "services": validation_service.validate_services,
    "configmaps": validation_core.validate_configmaps,
    "secrets": validation_core.validate_secrets,
    "namespaces": validation_core.validate_namespaces,
    "persistentvolumeclaims": validation_core.validate_persistentvolumeclaims,
    "persistentvolumes": validation_core.validate_persistentvolumes,
    "endpoints": validation_core.validate_endpoints,
    "deployments.apps": validation_apps.validate_deployments,
    "replicasets.apps": validation_apps.validate_replicasets,
    "statefulsets.apps": validation_apps.validate_statefulsets,
    "daemonsets.apps": validation_apps.validate_daemonsets,
    "controllerrevisions.apps": validation_apps.validate_controllerrevisions,
    "jobs.batch": validation_batch.validate_jobs,
    "cronjobs.batch": validation_batch.validate_cronjobs,
    "leases.coordination.k8s.io": validation_other.validate_leases,
    "horizontalpodautoscalers.autoscaling": validation_other.validate_horizontalpodautoscalers,
    "poddisruptionbudgets.policy": validation_other.validate_poddisruptionbudgets,
    "storageclasses.storage.k8s.io": validation_other.validate_storageclasses,
    "priorityclasses.scheduling.k8s.io": validation_other.validate_priorityclasses,
    "roles.rbac.authorization.k8s.io": validation_other.validate_roles,
    "clusterroles.rbac.authorization.k8s.io": validation_other.validate_clusterroles,
    "rolebindings.rbac.authorization.k8s.io": validation_other.validate_rolebindings,
    "clusterrolebindings.rbac.authorization.k8s.io": validation_other.validate_clusterrolebindings,
    f"validatingwebhookconfigurations.{_ADMISSION}": (
        validation_admission.validate_validatingwebhookconfigurations
    ),
    f"mutatingwebhookconfigurations.{_ADMISSION}": (
        validation_admission.validate_mutatingwebhookconfigurations
    ),
    "customresourcedefinitions.apiextensions.k8s.io": (
        validation_crd.validate_customresourcedefinitions
    ),
}

#: Groups whose validation goes through ``pkg/apis/core/validation.ValidateObjectMeta``,
#: which (unlike apimachinery's generic ObjectMeta validation used by CRDs, custom
#: resources and admission configuration) insists that an unprefixed finalizer be one of
#: the standard ones.
_CORE_META_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "storage.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "scheduling.k8s.io",
        "node.k8s.io",
        "certificates.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
    }
)


def default(group_resource: str, obj: Obj) -> None:
    """Apply the built-in defaults of ``group_resource`` to ``obj`` in place."""
    defaulter = DEFAULTERS.get(group_resource)
    if defaulter is not None:
        defaulter(obj)


def validate(group_resource: str, obj: Obj, old: Obj | None) -> list[Cause]:
    """The validation errors of ``obj`` (a create when ``old`` is None, else an update)."""
    causes = _kube_finalizer_names(group_resource, obj)
    validator = VALIDATORS.get(group_resource)
    if validator is not None:
        causes += validator(obj, old)
    return causes


def _kube_finalizer_names(group_resource: str, obj: Obj) -> list[Cause]:
    if group_resource.partition(".")[2] not in _CORE_META_GROUPS:
        return []
    finalizers = (as_dict(obj.get("metadata")) or {}).get("finalizers")
    if not isinstance(finalizers, list):
        return []
    return [
        cause
        for i, name in enumerate(finalizers)
        if isinstance(name, str)
        for cause in validation_core.validate_kube_finalizer_name(
            name, index("metadata.finalizers", i)
        )
    ]
