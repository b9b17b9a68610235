"""Defaults of the smaller built-in groups: autoscaling, storage, discovery, networking,
scheduling, RBAC and apiregistration.

Each function follows its group's ``pkg/apis/<group>/v1/defaults.go`` (``autoscaling/v2``
for the HPA). Groups whose served version has no defaulters at all (policy's PDB,
coordination's Lease, events, certificates' CSR, node's RuntimeClass) are simply not
listed in the registry.

The HPA ``behavior`` defaults follow ``GenerateHPAScaleUpRules``/``GenerateHPAScaleDownRules``:
a behavior block, once present, is completed rule by rule (select policy, stabilization
window, policies), with no stabilization window for scale-down because the controller's
command-line flag owns that default.
"""

from __future__ import annotations

import copy

from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    dicts,
    ensure_dict,
    set_if_empty,
    set_if_none,
)

RBAC_GROUP = "rbac.authorization.k8s.io"
DEFAULT_CPU_UTILIZATION = 80

_SCALE_UP_RULES: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_SCALE_DOWN_RULES: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def default_horizontalpodautoscalers(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    set_if_none(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": DEFAULT_CPU_UTILIZATION,
                    },
                },
            }
        ]
    behavior = as_dict(spec.get("behavior"))
    if behavior is not None:
        behavior["scaleUp"] = _scaling_rules(behavior.get("scaleUp"), _SCALE_UP_RULES)
        behavior["scaleDown"] = _scaling_rules(behavior.get("scaleDown"), _SCALE_DOWN_RULES)


def _scaling_rules(given: object, defaults: Obj) -> Obj:
    rules = copy.deepcopy(defaults)
    if isinstance(given, dict):
        for name in ("selectPolicy", "stabilizationWindowSeconds", "policies"):
            if given.get(name) is not None:
                rules[name] = given[name]
    return rules


def default_storageclasses(obj: Obj) -> None:
    set_if_none(obj, "reclaimPolicy", "Delete")
    set_if_none(obj, "volumeBindingMode", "Immediate")


def default_csidrivers(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    set_if_none(spec, "attachRequired", True)
    set_if_none(spec, "podInfoOnMount", False)
    set_if_none(spec, "storageCapacity", False)
    set_if_none(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType")
    set_if_empty(spec, "volumeLifecycleModes", ["Persistent"])
    set_if_none(spec, "requiresRepublish", False)
    # SELinuxMountReadWriteOncePod is beta and on in 1.32.
    set_if_none(spec, "seLinuxMount", False)


def default_endpointslices(obj: Obj) -> None:
    for _, port in dicts(obj.get("ports")):
        set_if_none(port, "name", "")
        set_if_none(port, "protocol", "TCP")


def default_networkpolicies(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    for direction in ("ingress", "egress"):
        for _, rule in dicts(spec.get(direction)):
            for _, port in dicts(rule.get("ports")):
                set_if_none(port, "protocol", "TCP")
    if not spec.get("policyTypes"):
        # A policy without policyTypes is an ingress policy, plus egress if it has rules.
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def default_ingressclasses(obj: Obj) -> None:
    params = as_dict((as_dict(obj.get("spec")) or {}).get("parameters"))
    if params is not None:
        set_if_none(params, "scope", "Cluster")


def default_priorityclasses(obj: Obj) -> None:
    set_if_none(obj, "preemptionPolicy", "PreemptLowerPriority")


def default_rolebindings(obj: Obj) -> None:
    role_ref = as_dict(obj.get("roleRef"))
    if role_ref is not None:
        set_if_empty(role_ref, "apiGroup", RBAC_GROUP)
    for _, subject in dicts(obj.get("subjects")):
        # ServiceAccount subjects default to the core group, which serialises as absent.
        if not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


def default_apiservices(obj: Obj) -> None:
    service = as_dict((as_dict(obj.get("spec")) or {}).get("service"))
    if service is not None:
        set_if_none(service, "port", 443)
