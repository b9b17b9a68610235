"""Built-in validation of services, config, storage, coordination, autoscaling, policy
and scheduling objects, with kube-apiserver 1.32's exact field paths and messages."""

from __future__ import annotations

import base64
import copy
from typing import Any

from pilothouse.apiserver import builtin


def check(group_resource: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    new = copy.deepcopy(obj)
    builtin.default(group_resource, new)
    return [c.describe() for c in builtin.validate(group_resource, new, old)]


def stored(group_resource: str, obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    builtin.default(group_resource, out)
    assert builtin.validate(group_resource, out, None) == []
    return out


# --- services (validated after the caller allocated IPs) ------------------------------------


def service(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "selector": {"app.kubernetes.io/name": "MyApp"},
        "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}],
        "clusterIP": "10.96.0.10",
    }
    base.update(spec)
    return {"metadata": {"name": "my-service"}, "spec": base}


def test_valid_services() -> None:
    assert check("services", service()) == []
    assert (
        check("services", service(type="NodePort", ports=[{"port": 80, "nodePort": 30007}])) == []
    )
    assert check("services", service(clusterIP="None", ports=[])) == []
    external = {"spec": {"type": "ExternalName", "externalName": "my.database.example.com"}}
    assert check("services", external) == []


def test_service_ports() -> None:
    ports = [
        {"port": 80, "protocol": "HTTP"},
        {"name": "b", "port": 0},
        {"name": "b", "port": 443, "targetPort": "HTTPS"},
        {"name": "c", "port": 443},
    ]
    assert check("services", service(ports=ports)) == [
        "spec.ports[0].name: Required value",
        'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.ports[2].name: Duplicate value: "b"',
        'spec.ports[2].targetPort: Invalid value: "HTTPS": must contain only alpha-numeric '
        "characters (a-z, 0-9), and hyphens (-)",
        'spec.ports[2].targetPort: Invalid value: "HTTPS": must contain at least one letter (a-z)',
        'spec.ports[3]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
        "AppProtocol:(*string)(nil), Port:443, TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
        'StrVal:""}, NodePort:0}',
    ]


def test_service_without_ports_and_bad_type() -> None:
    assert check("services", service(ports=[])) == ["spec.ports: Required value"]
    assert check("services", service(type="Internal")) == [
        'spec.type: Unsupported value: "Internal": supported values: "ClusterIP", '
        '"ExternalName", "LoadBalancer", "NodePort"'
    ]


def test_service_type_specific_rules() -> None:
    node_port_on_cluster_ip = service(ports=[{"port": 80, "nodePort": 30007}])
    assert check("services", node_port_on_cluster_ip) == [
        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    ]
    headless_node_port = service(type="NodePort", clusterIP="None")
    assert check("services", headless_node_port) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort "
        "services"
    ]
    no_cname = {"spec": {"type": "ExternalName"}}
    assert check("services", no_cname) == ["spec.externalName: Required value"]
    lb = service(
        type="LoadBalancer", ports=[{"port": 10250}], loadBalancerSourceRanges=["10.0.0.0/33"]
    )
    assert check("services", lb) == [
        "spec.ports[0]: Invalid value: 10250: may not expose port 10250 externally since it is "
        "used by kubelet",
        'spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.0/33": must be a valid CIDR '
        "value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
    ]


def test_service_cluster_ip_fields() -> None:
    mismatch = service(clusterIPs=["10.96.0.11"])
    assert check("services", mismatch) == [
        'spec.clusterIPs: Invalid value: []string{"10.96.0.11"}: first value must match `clusterIP`'
    ]
    bad_ip = service(clusterIP="10.96.0.300")
    assert check("services", bad_ip) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, '
        "(e.g. 10.9.8.7 or 2001:db8::ffff)"
    ]
    wrong_family = service(ipFamilies=["IPv6"])
    assert check("services", wrong_family) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.10": expected an IPv6 value as indicated by '
        "`ipFamilies[0]`"
    ]


def test_service_cluster_ip_is_immutable() -> None:
    old = stored("services", service())
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.20"
    new["spec"]["clusterIPs"] = ["10.96.0.20"]
    assert check("services", new, old) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.20"}: may not change once set'
    ]
    new = copy.deepcopy(old)
    new["spec"]["ports"][0]["port"] = 8080
    assert check("services", new, old) == []


def test_session_affinity_and_traffic_policies() -> None:
    svc = service(
        sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 0}}
    )
    svc["spec"]["externalTrafficPolicy"] = "Local"
    assert check("services", svc) == [
        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater "
        "than 0 and less than 86400",
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for '
        "externally-accessible services",
    ]


# --- config ---------------------------------------------------------------------------------


def test_configmap_keys_and_size() -> None:
    cm = {
        "metadata": {"name": "game-config"},
        "data": {"game.properties": "x", "bad key": "y", "..": ""},
    }
    assert check("configmaps", cm) == [
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric '
        "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex "
        "used for validation is '[-._a-zA-Z0-9]+')",
        "data[..]: Invalid value: \"..\": must not be '..'",
    ]
    big = {"data": {"a": "x" * (1024 * 1024), "b": "y"}}
    builtin.default("configmaps", big)
    [cause] = builtin.validate("configmaps", big, None)
    # The whole object is too big: upstream reports it with an empty field path.
    assert (cause.field, cause.reason) == ("", "FieldValueTooLong")
    assert cause.message == "Too long: must have at most 1048576 bytes"
    dup = {"data": {"k": "v"}, "binaryData": {"k": base64.b64encode(b"v").decode()}}
    assert check("configmaps", dup) == [
        'data[k]: Invalid value: "k": duplicate of key present in binaryData'
    ]


def test_immutable_configmaps_and_secrets() -> None:
    old = stored("configmaps", {"data": {"k": "v"}, "immutable": True})
    new = {"data": {"k": "w"}}
    assert check("configmaps", new, old) == [
        "immutable: Forbidden: field is immutable when `immutable` is set",
        "data: Forbidden: field is immutable when `immutable` is set",
    ]
    old_secret = stored("secrets", {"data": {"k": "dg=="}})
    retyped = {"type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}}
    assert check("secrets", retyped, old_secret) == [
        'type: Invalid value: "kubernetes.io/tls": field is immutable',
        "data[tls.key]: Required value",
    ]


def test_secret_types_and_size() -> None:
    assert check("secrets", {"type": "kubernetes.io/basic-auth", "data": {}}) == [
        "data[username]: Required value",
        "data[password]: Required value",
    ]
    assert check("secrets", {"type": "kubernetes.io/service-account-token"}) == [
        "metadata.annotations[kubernetes.io/service-account.name]: Required value"
    ]
    payload = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    assert check("secrets", {"data": {"blob": payload}}) == [
        "data: Too long: must have at most 1048576 bytes"
    ]
    docker = {
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": '{"auths": {}}'},
    }
    assert check("secrets", docker) == []


# --- namespaces and storage ----------------------------------------------------------------


def test_namespace_finalizers() -> None:
    ns = {"metadata": {"name": "team-a"}, "spec": {"finalizers": ["kubernetes", "cleanup"]}}
    assert check("namespaces", ns) == [
        'spec.finalizers: Invalid value: "cleanup": name is neither a standard finalizer name '
        "nor is it fully qualified"
    ]


def pvc(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "8Gi"}},
    }
    base.update(spec)
    return {"metadata": {"name": "claim"}, "spec": base}


def test_pvc_create_and_update() -> None:
    assert check("persistentvolumeclaims", pvc()) == []
    assert check("persistentvolumeclaims", pvc(accessModes=[], resources={})) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]
    assert check(
        "persistentvolumeclaims", pvc(accessModes=["ReadWriteOncePod", "ReadOnlyMany"])
    ) == ["spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes"]
    old = stored("persistentvolumeclaims", pvc())
    # An unset class may be set once (retroactive default StorageClass, GA in 1.28)...
    classed = copy.deepcopy(old)
    classed["spec"]["storageClassName"] = "fast"
    assert check("persistentvolumeclaims", classed, old) == []
    # ...but the rest of the spec is immutable.
    new = copy.deepcopy(old)
    new["spec"]["accessModes"] = ["ReadOnlyMany"]
    assert check("persistentvolumeclaims", new, old) == [
        "spec: Forbidden: spec is immutable after creation except resources.requests and "
        "volumeAttributesClassName for bound claims"
    ]
    bound_old = copy.deepcopy(old)
    bound_old["status"] = {"phase": "Bound"}
    grown = copy.deepcopy(bound_old)
    grown["spec"]["resources"]["requests"]["storage"] = "16Gi"
    grown["spec"]["volumeName"] = "pv-1"
    assert check("persistentvolumeclaims", grown, bound_old) == []


def test_storage_class_update_rules() -> None:
    old = stored(
        "storageclasses.storage.k8s.io",
        {"provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"}},
    )
    new = {
        "provisioner": "ebs.csi.aws.com",
        "parameters": {"type": "io2"},
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    assert check("storageclasses.storage.k8s.io", new, old) == [
        "parameters: Forbidden: updates to parameters are forbidden.",
        'volumeBindingMode: Invalid value: "WaitForFirstConsumer": field is immutable',
    ]
    assert check("storageclasses.storage.k8s.io", {"reclaimPolicy": "Recycle"}) == [
        "provisioner: Required value",
        'reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain"',
    ]


# --- coordination, autoscaling, policy, scheduling -----------------------------------------


def test_lease() -> None:
    lease = {"spec": {"holderIdentity": "me", "leaseDurationSeconds": 0, "leaseTransitions": -1}}
    assert check("leases.coordination.k8s.io", lease) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
    ]
    assert check("leases.coordination.k8s.io", {"spec": {"leaseDurationSeconds": 15}}) == []


def test_hpa() -> None:
    hpa: dict[str, Any] = {
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "php-apache"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        }
    }
    assert check("horizontalpodautoscalers.autoscaling", hpa) == []
    hpa["spec"].update(minReplicas=0, maxReplicas=0, scaleTargetRef={"kind": "Deployment"})
    hpa["spec"]["behavior"] = {
        "scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 2000}]}
    }
    assert check("horizontalpodautoscalers.autoscaling", hpa) == [
        "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
        "spec.maxReplicas: Invalid value: 0: must be greater than 0",
        "spec.scaleTargetRef.name: Required value",
        "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
        "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 2000: must be less than "
        "or equal to 1800",
    ]


def test_pdb_and_priority_class() -> None:
    pdb = {
        "spec": {
            "minAvailable": 2,
            "maxUnavailable": "10%",
            "selector": {"matchLabels": {"app": "zk"}},
        }
    }
    assert check("poddisruptionbudgets.policy", pdb) == [
        "spec: Invalid value: policy.PodDisruptionBudgetSpec{...}: minAvailable and "
        "maxUnavailable cannot be both set"
    ]
    system = {"metadata": {"name": "system-special"}, "value": 5}
    assert check("priorityclasses.scheduling.k8s.io", system) == [
        "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for "
        "system use only. error: system-special is not a known system priority class"
    ]
    huge = {"metadata": {"name": "huge"}, "value": 2_000_000_000}
    assert check("priorityclasses.scheduling.k8s.io", huge) == [
        "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
    ]
