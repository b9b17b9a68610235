"""Built-in defaulting of services, storage, config and the smaller groups, plus the
properties every defaulter has (idempotence, robustness), checked against kube-apiserver
1.32's behaviour for real-world manifests."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.apiserver import builtin

UID = "0f3c1a9e-5b6d-4e8f-9a7b-2c4d6e8f0a1b"


def defaulted(group_resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    builtin.default(group_resource, out)
    return out


def nginx_container() -> dict[str, Any]:
    return {"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}


def nginx_template(labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels or {"app": "nginx"}},
        "spec": {"containers": [nginx_container()]},
    }


def pi_job() -> dict[str, Any]:
    return {
        "metadata": {"name": "pi", "namespace": "default", "uid": UID},
        "spec": {"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
    }


# --- services -------------------------------------------------------------------------------


def test_cluster_ip_service_from_the_docs() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "my-service"},
        "spec": {
            "selector": {"app.kubernetes.io/name": "MyApp"},
            "ports": [{"port": 80, "targetPort": 9376}],
        },
    }
    assert defaulted("services", service)["spec"] == {
        "selector": {"app.kubernetes.io/name": "MyApp"},
        "ports": [{"port": 80, "targetPort": 9376, "protocol": "TCP"}],
        "sessionAffinity": "None",
        "type": "ClusterIP",
        "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"],
    }


def test_service_target_port_defaults_to_port_unless_named() -> None:
    ports = [{"port": 80}, {"port": 443, "targetPort": "https"}, {"port": 8080, "targetPort": 0}]
    spec = defaulted("services", {"spec": {"ports": ports}})["spec"]
    assert [p["targetPort"] for p in spec["ports"]] == [80, "https", 8080]


def test_node_port_and_load_balancer_services() -> None:
    node_port = defaulted("services", {"spec": {"type": "NodePort", "ports": [{"port": 80}]}})[
        "spec"
    ]
    assert node_port["externalTrafficPolicy"] == "Cluster"
    assert "allocateLoadBalancerNodePorts" not in node_port
    lb = {
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": {
            "loadBalancer": {"ingress": [{"ip": "192.0.2.127"}, {"hostname": "lb.example.com"}]}
        },
    }
    out = defaulted("services", lb)
    assert out["spec"]["externalTrafficPolicy"] == "Cluster"
    assert out["spec"]["allocateLoadBalancerNodePorts"] is True
    assert out["status"]["loadBalancer"]["ingress"] == [
        {"ip": "192.0.2.127", "ipMode": "VIP"},
        {"hostname": "lb.example.com"},
    ]


def test_cluster_ip_services_with_external_ips_are_externally_accessible() -> None:
    spec = defaulted("services", {"spec": {"externalIPs": ["198.51.100.32"]}})["spec"]
    assert spec["externalTrafficPolicy"] == "Cluster"


def test_headless_services_and_ip_families() -> None:
    selectorless = defaulted("services", {"spec": {"clusterIP": "None", "ports": [{"port": 80}]}})[
        "spec"
    ]
    assert selectorless["clusterIPs"] == ["None"]
    assert selectorless["ipFamilyPolicy"] == "RequireDualStack"
    assert selectorless["ipFamilies"] == ["IPv4", "IPv6"]
    with_selector = defaulted(
        "services", {"spec": {"clusterIP": "None", "selector": {"app": "db"}}}
    )["spec"]
    assert with_selector["ipFamilyPolicy"] == "SingleStack"
    assert with_selector["ipFamilies"] == ["IPv4"]
    v6 = defaulted("services", {"spec": {"clusterIP": "fd00::10"}})["spec"]
    assert v6["clusterIPs"] == ["fd00::10"]
    assert v6["ipFamilies"] == ["IPv6"]


def test_external_name_services_get_no_ip_fields() -> None:
    spec = defaulted(
        "services", {"spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    )["spec"]
    assert spec == {
        "type": "ExternalName",
        "externalName": "db.example.com",
        "sessionAffinity": "None",
    }


def test_client_ip_session_affinity_gets_a_timeout() -> None:
    spec = defaulted("services", {"spec": {"sessionAffinity": "ClientIP"}})["spec"]
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    none = defaulted(
        "services", {"spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}
    )
    assert "sessionAffinityConfig" not in none["spec"]


# --- other core kinds -----------------------------------------------------------------------


def test_namespace_pvc_pv() -> None:
    ns = defaulted("namespaces", {"metadata": {"name": "team-a"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert ns["status"] == {"phase": "Active"}
    pvc = defaulted(
        "persistentvolumeclaims",
        {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "8G"}}}},
    )
    assert pvc["spec"]["volumeMode"] == "Filesystem"
    assert pvc["status"] == {"phase": "Pending"}
    pv = defaulted(
        "persistentvolumes",
        {"spec": {"capacity": {"storage": "10Gi"}, "hostPath": {"path": "/mnt/data"}}},
    )
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["volumeMode"] == "Filesystem"
    assert pv["spec"]["hostPath"]["type"] == ""
    assert pv["status"] == {"phase": "Pending"}


def test_secret_string_data_is_folded_into_data() -> None:
    secret = {
        "metadata": {"name": "s"},
        "data": {"a": "b2xk"},
        "stringData": {"a": "new", "b": "ümlaut"},
    }
    out = defaulted("secrets", secret)
    assert out["type"] == "Opaque"
    assert "stringData" not in out
    assert out["data"] == {"a": "bmV3", "b": base64.b64encode("ümlaut".encode()).decode()}


def test_endpoints_node_limitrange() -> None:
    ep = defaulted(
        "endpoints", {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
    )
    assert ep["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    node = defaulted("nodes", {"status": {"capacity": {"cpu": "4", "memory": "8Gi"}}})
    assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi"}
    lr = defaulted(
        "limitranges",
        {
            "spec": {
                "limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "100Mi"}}]
            }
        },
    )
    assert lr["spec"]["limits"][0]["default"] == {"cpu": "1"}
    assert lr["spec"]["limits"][0]["defaultRequest"] == {"cpu": "1", "memory": "100Mi"}


# --- other groups ---------------------------------------------------------------------------


def test_hpa_defaults_metrics_and_completes_behavior() -> None:
    hpa = {"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5}}
    spec = defaulted("horizontalpodautoscalers.autoscaling", hpa)["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert "behavior" not in spec
    hpa["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    behavior = defaulted("horizontalpodautoscalers.autoscaling", hpa)["spec"]["behavior"]
    assert behavior == {
        "scaleDown": {
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
            "stabilizationWindowSeconds": 60,
        },
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        },
    }


def test_storage_networking_scheduling_rbac_defaults() -> None:
    sc = defaulted("storageclasses.storage.k8s.io", {"provisioner": "kubernetes.io/no-provisioner"})
    assert (sc["reclaimPolicy"], sc["volumeBindingMode"]) == ("Delete", "Immediate")
    driver = defaulted("csidrivers.storage.k8s.io", {"spec": {}})["spec"]
    assert driver["attachRequired"] is True
    assert driver["volumeLifecycleModes"] == ["Persistent"]
    assert driver["fsGroupPolicy"] == "ReadWriteOnceWithFSType"
    slice_ = defaulted("endpointslices.discovery.k8s.io", {"ports": [{"port": 80}]})
    assert slice_["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    policy = defaulted(
        "networkpolicies.networking.k8s.io",
        {"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}},
    )
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["egress"][0]["ports"] == [{"port": 53, "protocol": "TCP"}]
    ingress_only = defaulted("networkpolicies.networking.k8s.io", {"spec": {"podSelector": {}}})
    assert ingress_only["spec"]["policyTypes"] == ["Ingress"]
    ic = defaulted(
        "ingressclasses.networking.k8s.io", {"spec": {"parameters": {"kind": "X", "name": "y"}}}
    )
    assert ic["spec"]["parameters"]["scope"] == "Cluster"
    pc = defaulted("priorityclasses.scheduling.k8s.io", {"value": 1000})
    assert pc["preemptionPolicy"] == "PreemptLowerPriority"
    binding = defaulted(
        "rolebindings.rbac.authorization.k8s.io",
        {
            "roleRef": {"kind": "Role", "name": "pod-reader"},
            "subjects": [
                {"kind": "User", "name": "jane"},
                {"kind": "ServiceAccount", "name": "sa"},
            ],
        },
    )
    assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert binding["subjects"] == [
        {"kind": "User", "name": "jane", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": "sa"},
    ]
    api_service = defaulted(
        "apiservices.apiregistration.k8s.io", {"spec": {"service": {"name": "m", "namespace": "k"}}}
    )
    assert api_service["spec"]["service"]["port"] == 443


def test_webhook_configurations() -> None:
    hook: dict[str, Any] = {
        "name": "pod-policy.example.com",
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["pods"],
            }
        ],
        "clientConfig": {"service": {"namespace": "example", "name": "webhook"}},
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
    }
    out = defaulted(
        "validatingwebhookconfigurations.admissionregistration.k8s.io", {"webhooks": [hook]}
    )
    assert out["webhooks"][0] == {
        **hook,
        "rules": [{**hook["rules"][0], "scope": "*"}],
        "clientConfig": {"service": {"namespace": "example", "name": "webhook", "port": 443}},
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": {},
        "objectSelector": {},
        "timeoutSeconds": 10,
    }
    mutating = defaulted(
        "mutatingwebhookconfigurations.admissionregistration.k8s.io", {"webhooks": [{}]}
    )
    assert mutating["webhooks"][0]["reinvocationPolicy"] == "Never"
    assert "sideEffects" not in mutating["webhooks"][0]  # required in v1, never defaulted
    vap = defaulted(
        "validatingadmissionpolicies.admissionregistration.k8s.io",
        {"spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["apps"]}]}}},
    )
    assert vap["spec"]["failurePolicy"] == "Fail"
    assert vap["spec"]["matchConstraints"]["matchPolicy"] == "Equivalent"
    assert vap["spec"]["matchConstraints"]["resourceRules"][0]["scope"] == "*"


def test_crd_defaults_and_stored_versions() -> None:
    crd = {
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
            "versions": [
                {"name": "v1beta1", "served": True, "storage": False},
                {"name": "v1", "served": True, "storage": True},
            ],
        },
    }
    out = defaulted("customresourcedefinitions.apiextensions.k8s.io", crd)
    assert out["spec"]["names"]["singular"] == "crontab"
    assert out["spec"]["names"]["listKind"] == "CronTabList"
    assert out["spec"]["conversion"] == {"strategy": "None"}
    assert out["status"] == {"storedVersions": ["v1"]}
    # A later update switching the storage version keeps the old one recorded.
    out["spec"]["versions"][0]["storage"], out["spec"]["versions"][1]["storage"] = True, False
    builtin.default("customresourcedefinitions.apiextensions.k8s.io", out)
    assert out["status"]["storedVersions"] == ["v1", "v1beta1"]


# --- properties -----------------------------------------------------------------------------

EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("pods", {"spec": {"containers": [nginx_container()], "volumes": [{"name": "v"}]}}),
    ("deployments.apps", {"spec": {"template": nginx_template()}}),
    (
        "statefulsets.apps",
        {"spec": {"template": nginx_template(), "volumeClaimTemplates": [{"spec": {}}]}},
    ),
    ("daemonsets.apps", {"spec": {"template": nginx_template()}}),
    ("jobs.batch", pi_job()),
    ("services", {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}),
    ("secrets", {"stringData": {"k": "v"}}),
    ("horizontalpodautoscalers.autoscaling", {"spec": {"behavior": {}}}),
    (
        "customresourcedefinitions.apiextensions.k8s.io",
        {"spec": {"names": {"kind": "A"}, "versions": [{"name": "v1", "storage": True}]}},
    ),
]


@pytest.mark.parametrize(("group_resource", "obj"), EXAMPLES)
def test_defaulting_is_idempotent(group_resource: str, obj: dict[str, Any]) -> None:
    once = defaulted(group_resource, obj)
    assert defaulted(group_resource, once) == once


def test_unlisted_kinds_are_untouched() -> None:
    obj = {"data": {"a": "b"}}
    assert defaulted("configmaps", obj) == obj
    assert defaulted("widgets.example.com", obj) == obj


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "spec",
                    "containers",
                    "template",
                    "ports",
                    "volumes",
                    "metadata",
                    "name",
                    "image",
                    "selector",
                    "labels",
                    "resources",
                    "limits",
                    "status",
                    "type",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(
    group_resource=st.sampled_from(sorted(builtin.DEFAULTERS)),
    obj=st.dictionaries(
        st.sampled_from(
            [
                "spec",
                "metadata",
                "status",
                "data",
                "stringData",
                "webhooks",
                "ports",
                "subsets",
                "roleRef",
                "subjects",
            ]
        ),
        JSON,
        max_size=4,
    ),
)
def test_malformed_objects_never_raise(group_resource: str, obj: dict[str, Any]) -> None:
    builtin.default(group_resource, obj)
    builtin.validate(group_resource, obj, None)
    builtin.validate(group_resource, obj, obj)
