"""Defaults of the core (``v1``) group apart from pods (see :mod:`.defaults_pod`).

Sources: ``pkg/apis/core/v1/defaults.go`` and its generated ``zz_generated.defaults.go``,
plus three things a client sees as defaulting although kube does them elsewhere:

* ``Secret.stringData`` is merged into ``data`` (base64) and dropped -- v1 conversion.
* ``Service.spec.clusterIPs`` mirrors a lone ``clusterIP`` -- the service strategy's
  ``normalizeClusterIPs``.
* ``Service.spec.ipFamilyPolicy``/``ipFamilies`` -- the REST storage's ``initIPFamilyFields``,
  for a single-stack IPv4 cluster: ``SingleStack``/``[IPv4]``, except a headless service
  without selector, which gets ``RequireDualStack``/``[IPv4, IPv6]`` as upstream gives it.

IP and node-port *allocation* is not defaulting and is left to the caller, as are the
create-only strategy steps (a namespace's ``kubernetes`` finalizer, initial pod status).
"""

from __future__ import annotations

import base64
import ipaddress

from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    dicts,
    ensure_dict,
    get_dict,
    set_if_empty,
    set_if_none,
)
from pilothouse.apiserver.builtin.defaults_pod import (
    default_pod,
    default_pod_template,
    default_pvc_spec,
    default_resource_list,
    default_volume_plugin_sources,
)

DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800


def default_pods(obj: Obj) -> None:
    default_pod(obj)


def default_podtemplates(obj: Obj) -> None:
    default_pod_template(obj.get("template"))


def default_replicationcontrollers(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    template = as_dict(spec.get("template"))
    template_labels = get_dict(template, "metadata", "labels")
    if template_labels is not None:
        if not spec.get("selector"):
            spec["selector"] = dict(template_labels)
        meta = ensure_dict(obj, "metadata")
        if meta is not None and not meta.get("labels"):
            meta["labels"] = dict(template_labels)
    set_if_none(spec, "replicas", 1)
    default_pod_template(template)


def default_services(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    set_if_empty(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        client_ip = get_dict(spec, "sessionAffinityConfig", "clientIP") or {}
        if client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}
            }
    set_if_empty(spec, "type", "ClusterIP")
    for _, port in dicts(spec.get("ports")):
        set_if_empty(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    svc_type = spec["type"]
    externally_accessible = svc_type in ("LoadBalancer", "NodePort") or (
        svc_type == "ClusterIP" and bool(spec.get("externalIPs"))
    )
    if externally_accessible:
        set_if_empty(spec, "externalTrafficPolicy", "Cluster")
    if svc_type in ("NodePort", "LoadBalancer", "ClusterIP"):
        set_if_none(spec, "internalTrafficPolicy", "Cluster")
    if svc_type == "LoadBalancer":
        set_if_none(spec, "allocateLoadBalancerNodePorts", True)
        for _, ingress in dicts((get_dict(obj, "status", "loadBalancer") or {}).get("ingress")):
            if ingress.get("ip") and ingress.get("ipMode") is None:
                ingress["ipMode"] = "VIP"
    cluster_ip = spec.get("clusterIP")
    if isinstance(cluster_ip, str) and cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    if svc_type != "ExternalName":
        _default_ip_families(spec)


def _default_ip_families(spec: Obj) -> None:
    headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
    if spec.get("ipFamilyPolicy") is None:
        spec["ipFamilyPolicy"] = "RequireDualStack" if headless_selectorless else "SingleStack"
    if spec.get("ipFamilies"):
        return
    families: list[str] = []
    for ip in spec.get("clusterIPs") or []:
        try:
            families.append(f"IPv{ipaddress.ip_address(ip).version}")
        except (TypeError, ValueError):
            break  # "None" (headless) or invalid: validation reports the latter
    if not families:
        families = ["IPv4"]
    if headless_selectorless and spec["ipFamilyPolicy"] != "SingleStack" and len(families) < 2:
        families.append("IPv6" if families[0] == "IPv4" else "IPv4")
    spec["ipFamilies"] = families


def default_namespaces(obj: Obj) -> None:
    meta = ensure_dict(obj, "metadata")
    name = meta.get("name") if meta is not None else None
    if meta is not None and isinstance(name, str) and name:
        # SetDefaults_Namespace: namespaceSelectors can always select a namespace by name.
        labels = ensure_dict(meta, "labels")
        if labels is not None:
            labels["kubernetes.io/metadata.name"] = name
    status = ensure_dict(obj, "status")
    if status is not None:
        set_if_empty(status, "phase", "Active")


def default_persistentvolumeclaims(obj: Obj) -> None:
    spec = as_dict(obj.get("spec"))
    if spec is not None:
        default_pvc_spec(spec)
    status = ensure_dict(obj, "status")
    if status is not None:
        set_if_empty(status, "phase", "Pending")
        default_resource_list(status, "capacity")
        default_resource_list(status, "allocatedResources")


def default_persistentvolumes(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is not None:
        set_if_empty(spec, "persistentVolumeReclaimPolicy", "Retain")
        set_if_none(spec, "volumeMode", "Filesystem")
        default_resource_list(spec, "capacity")
        default_volume_plugin_sources(spec)
    status = ensure_dict(obj, "status")
    if status is not None:
        set_if_empty(status, "phase", "Pending")


def default_secrets(obj: Obj) -> None:
    set_if_empty(obj, "type", "Opaque")
    string_data = as_dict(obj.get("stringData"))
    if string_data:
        data = ensure_dict(obj, "data")
        if data is not None:
            for k, v in string_data.items():
                if isinstance(v, str):
                    data[k] = base64.b64encode(v.encode("utf-8")).decode("ascii")
    # Write-only: the real server never stores or returns stringData.
    obj.pop("stringData", None)


def default_endpoints(obj: Obj) -> None:
    for _, subset in dicts(obj.get("subsets")):
        for _, port in dicts(subset.get("ports")):
            set_if_empty(port, "protocol", "TCP")


def default_nodes(obj: Obj) -> None:
    status = as_dict(obj.get("status"))
    if status is None:
        return
    if status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])
    default_resource_list(status, "capacity")
    default_resource_list(status, "allocatable")


def default_limitranges(obj: Obj) -> None:
    for _, item in dicts((as_dict(obj.get("spec")) or {}).get("limits")):
        if item.get("type") == "Container":
            default = dict(as_dict(item.get("default")) or {})
            default_request = dict(as_dict(item.get("defaultRequest")) or {})
            for name, value in (as_dict(item.get("max")) or {}).items():
                default.setdefault(name, value)
            for name, value in default.items():
                default_request.setdefault(name, value)
            for name, value in (as_dict(item.get("min")) or {}).items():
                default_request.setdefault(name, value)
            # Empty maps are omitted from the serialised object, as in Go.
            if default:
                item["default"] = default
            if default_request:
                item["defaultRequest"] = default_request
        for name in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            default_resource_list(item, name)


def default_resourcequotas(obj: Obj) -> None:
    for part in ("spec", "status"):
        section = as_dict(obj.get(part))
        if section is not None:
            default_resource_list(section, "hard")
            default_resource_list(section, "used")
