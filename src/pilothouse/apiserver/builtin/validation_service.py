"""Validation of Services, create and update (``ValidateService``/``ValidateServiceUpdate``).

Runs after the caller has allocated cluster IPs and node ports, so allocated fields are
checked like user-set ones: ``clusterIPs`` must start with ``clusterIP``, hold valid IPs
(one per family, at most two), match ``ipFamilies``; node ports must be unique and absent
from ``ClusterIP`` services. On update the primary cluster IP and IP family may not change
(``may not change once set``), exactly as upstream.

Port duplicates are reported with Go's ``%#v`` of the ``ServicePort`` key, which is what
clients see. ``healthCheckNodePort`` is only checked when present: allocating it for
``LoadBalancer`` services with ``externalTrafficPolicy: Local`` is the allocator's job.
"""

from __future__ import annotations

import ipaddress

from pilothouse.apiserver.builtin._rules import (
    is_valid_ip,
    is_valid_port_num,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_labels,
    validate_port_num_or_name,
    validate_qualified_name,
)
from pilothouse.apiserver.builtin._util import (
    GoValue,
    Obj,
    as_dict,
    child,
    dicts,
    duplicate,
    forbidden,
    get_list,
    get_str,
    go_string_slice,
    index,
    invalid,
    is_int,
    not_supported,
    required,
)
from pilothouse.apiserver.builtin.validation_container import validate_protocol
from pilothouse.apiserver.errors import Cause

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
KUBELET_PORT = 10250
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400


def _is_headless(spec: Obj) -> bool:
    ips = get_list(spec, "clusterIPs")
    return bool(ips) and ips[0] == "None"


def validate_services(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs: list[Cause] = []
    if old is not None:
        old_spec = as_dict(old.get("spec")) or {}
        errs += _validate_cluster_ips_update(spec, old_spec)
        errs += _validate_ip_families_update(spec, old_spec)
    svc_type = spec.get("type")
    ports = get_list(spec, "ports")
    headless = _is_headless(spec)
    if not ports and not headless and svc_type != "ExternalName":
        errs.append(required("spec.ports"))
    if svc_type in ("LoadBalancer", "NodePort"):
        if svc_type == "LoadBalancer":
            for i, port in dicts(ports):
                if port.get("port") == KUBELET_PORT:
                    detail = (
                        f"may not expose port {KUBELET_PORT} externally since it is used by kubelet"
                    )
                    errs.append(invalid(index("spec.ports", i), KUBELET_PORT, detail))
        if headless:
            errs.append(
                invalid(
                    "spec.clusterIPs[0]",
                    "None",
                    f"may not be set to 'None' for {svc_type} services",
                )
            )
    elif svc_type == "ExternalName":
        for field in ("clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(field):
                errs.append(
                    forbidden(child("spec", field), "may not be set for ExternalName services")
                )
        cname = get_str(spec, "externalName").removesuffix(".")
        if cname:
            errs += validate_dns1123_subdomain("spec.externalName", cname)
        else:
            errs.append(required("spec.externalName"))
    names: set[str] = set()
    for i, port in dicts(ports):
        errs += _validate_port(port, len(ports) > 1, names, index("spec.ports", i))
    if spec.get("selector") is not None:
        errs += validate_labels(spec.get("selector"), "spec.selector")
    errs += _validate_session_affinity(spec)
    errs += _validate_cluster_ips(spec)
    for i, ip in enumerate(get_list(spec, "externalIPs")):
        errs += is_valid_ip(index("spec.externalIPs", i), str(ip))
    if not svc_type:
        errs.append(required("spec.type"))
    elif svc_type not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", svc_type, SERVICE_TYPES))
    if svc_type == "ClusterIP":
        for i, port in dicts(ports):
            if port.get("nodePort"):
                errs.append(
                    forbidden(
                        child(index("spec.ports", i), "nodePort"),
                        "may not be used when `type` is 'ClusterIP'",
                    )
                )
    errs += _validate_duplicate_ports(ports)
    errs += _validate_load_balancer_fields(spec)
    errs += _validate_traffic_policies(spec)
    return errs


def _validate_port(port: Obj, require_name: bool, names: set[str], path: str) -> list[Cause]:
    errs: list[Cause] = []
    name = get_str(port, "name")
    if require_name and not name:
        errs.append(required(child(path, "name")))
    elif name:
        errs += validate_dns1123_label(child(path, "name"), name)
        if name in names:
            errs.append(duplicate(child(path, "name"), name))
        names.add(name)
    number = port.get("port")
    errs += [
        invalid(child(path, "port"), number if is_int(number) else 0, m)
        for m in is_valid_port_num(number)
    ]
    errs += validate_protocol(port.get("protocol"), child(path, "protocol"))
    errs += validate_port_num_or_name(child(path, "targetPort"), port.get("targetPort"))
    app_protocol = port.get("appProtocol")
    if isinstance(app_protocol, str):
        errs += validate_qualified_name(child(path, "appProtocol"), app_protocol)
    return errs


def _validate_session_affinity(spec: Obj) -> list[Cause]:
    affinity = spec.get("sessionAffinity")
    if not affinity:
        return [required("spec.sessionAffinity")]
    if affinity not in SESSION_AFFINITIES:
        return [not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES)]
    config = as_dict(spec.get("sessionAffinityConfig"))
    path = "spec.sessionAffinityConfig"
    if affinity == "None":
        if config is not None:
            return [forbidden(path, "must not be set when session affinity is None")]
        return []
    when = "when session affinity type is ClientIP"
    if config is None:
        return [required(path, when)]
    client_ip = as_dict(config.get("clientIP"))
    if client_ip is None:
        return [required(child(path, "clientIP"), when)]
    timeout = client_ip.get("timeoutSeconds")
    if timeout is None:
        return [required(child(path, "clientIP", "timeoutSeconds"), when)]
    if not is_int(timeout) or not 0 < timeout <= MAX_CLIENT_IP_AFFINITY_SECONDS:
        detail = f"must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"
        return [invalid(child(path, "clientIP", "timeoutSeconds"), timeout, detail)]
    return []


def _validate_cluster_ips(spec: Obj) -> list[Cause]:
    """``ValidateServiceClusterIPsRelatedFields``."""
    if spec.get("type") == "ExternalName":
        return []
    errs: list[Cause] = []
    cluster_ip = get_str(spec, "clusterIP")
    ips = [str(ip) for ip in get_list(spec, "clusterIPs")]
    if cluster_ip:
        if not ips:
            errs.append(required("spec.clusterIPs"))
        elif ips[0] != cluster_ip:
            errs.append(
                invalid(
                    "spec.clusterIPs", go_string_slice(ips), "first value must match `clusterIP`"
                )
            )
    elif ips:
        errs.append(
            invalid(
                "spec.clusterIPs",
                go_string_slice(ips),
                "must be empty when `clusterIP` is not specified",
            )
        )
    families = get_list(spec, "ipFamilies")
    seen: set[object] = set()
    for i, family in enumerate(families):
        if family not in IP_FAMILIES:
            errs.append(not_supported(index("spec.ipFamilies", i), family, IP_FAMILIES))
        if family in seen:
            errs.append(duplicate(index("spec.ipFamilies", i), family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errs.append(not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))
    bad_ips = False
    for i, ip in enumerate(ips):
        if i == 0 and ip == "None":
            if len(ips) > 1:
                bad_ips = True
                errs.append(
                    invalid(
                        "spec.clusterIPs",
                        go_string_slice(ips),
                        "'None' must be the first and only value",
                    )
                )
            continue
        ip_errs = is_valid_ip(index("spec.clusterIPs", i), ip)
        bad_ips = bad_ips or bool(ip_errs)
        errs += ip_errs
    if len(ips) > 2:
        errs.append(
            invalid("spec.clusterIPs", go_string_slice(ips), "may only hold up to 2 values")
        )
    if bad_ips:
        return errs
    versions = [ipaddress.ip_address(ip).version for ip in ips if ip != "None"]
    if len(ips) > 1 and len(set(versions)) != len(versions):
        errs.append(
            invalid(
                "spec.clusterIPs",
                go_string_slice(ips),
                "may specify no more than one IP for each IP family",
            )
        )
    if not _is_headless(spec):
        for i, (version, family) in enumerate(zip(versions, families, strict=False)):
            expected = 4 if family == "IPv4" else 6 if family == "IPv6" else version
            if version != expected:
                detail = f"expected an {family} value as indicated by `ipFamilies[{i}]`"
                errs.append(invalid(index("spec.clusterIPs", i), ips[i], detail))
    return errs


def _service_port_key(port: Obj) -> GoValue:
    """``%#v`` of the ``core.ServicePort{Protocol, Port}`` key of the duplicate check."""
    return GoValue(
        f'core.ServicePort{{Name:"", Protocol:"{get_str(port, "protocol")}", '
        f"AppProtocol:(*string)(nil), Port:{port.get('port')}, "
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


def _validate_duplicate_ports(ports: list[object]) -> list[Cause]:
    errs: list[Cause] = []
    node_ports: set[tuple[object, object]] = set()
    for i, port in dicts(ports):
        node_port = port.get("nodePort")
        if not node_port:
            continue
        ident = (port.get("protocol"), node_port)
        if ident in node_ports:
            errs.append(duplicate(child(index("spec.ports", i), "nodePort"), node_port))
        node_ports.add(ident)
    seen: set[tuple[object, object]] = set()
    for i, port in dicts(ports):
        ident = (port.get("protocol"), port.get("port"))
        if ident in seen:
            errs.append(duplicate(index("spec.ports", i), _service_port_key(port)))
        seen.add(ident)
    return errs


def _validate_load_balancer_fields(spec: Obj) -> list[Cause]:
    errs: list[Cause] = []
    is_lb = spec.get("type") == "LoadBalancer"
    only_lb = "may only be used when `type` is 'LoadBalancer'"
    ranges = get_list(spec, "loadBalancerSourceRanges")
    if ranges:
        # Upstream capitalises this path.
        path = "spec.LoadBalancerSourceRanges"
        if not is_lb:
            errs.append(forbidden(path, only_lb))
        for i, cidr in enumerate(ranges):
            try:
                ipaddress.ip_network(str(cidr).strip(), strict=False)
            except ValueError:
                detail = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
                errs.append(invalid(index(path, i), str(cidr).strip(), detail))
    if spec.get("allocateLoadBalancerNodePorts") is not None and not is_lb:
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts", only_lb))
    if is_lb and spec.get("allocateLoadBalancerNodePorts") is None:
        # Upstream's path here lacks the "spec." prefix.
        errs.append(required("allocateLoadBalancerNodePorts"))
    lb_class = spec.get("loadBalancerClass")
    if lb_class is not None:
        if not is_lb:
            errs.append(
                forbidden(
                    "spec.loadBalancerClass", "may only be used when service type is 'LoadBalancer'"
                )
            )
        elif isinstance(lb_class, str):
            errs += validate_qualified_name("spec.loadBalancerClass", lb_class)
    return errs


def _validate_traffic_policies(spec: Obj) -> list[Cause]:
    errs: list[Cause] = []
    svc_type = spec.get("type")
    external = svc_type in ("LoadBalancer", "NodePort") or (
        svc_type == "ClusterIP" and bool(get_list(spec, "externalIPs"))
    )
    etp = spec.get("externalTrafficPolicy")
    if not external:
        if etp:
            detail = "may only be set for externally-accessible services"
            errs.append(invalid("spec.externalTrafficPolicy", etp, detail))
    elif not etp:
        errs.append(required("spec.externalTrafficPolicy"))
    elif etp not in TRAFFIC_POLICIES:
        errs.append(not_supported("spec.externalTrafficPolicy", etp, TRAFFIC_POLICIES))
    hc_port = spec.get("healthCheckNodePort")
    if hc_port:
        if not (svc_type == "LoadBalancer" and etp == "Local"):
            detail = (
                "may only be set when `type` is 'LoadBalancer' and "
                "`externalTrafficPolicy` is 'Local'"
            )
            errs.append(invalid("spec.healthCheckNodePort", hc_port, detail))
        else:
            errs += [
                invalid("spec.healthCheckNodePort", hc_port, m) for m in is_valid_port_num(hc_port)
            ]
    itp = spec.get("internalTrafficPolicy")
    if itp is None and svc_type in ("NodePort", "LoadBalancer", "ClusterIP"):
        errs.append(required("spec.internalTrafficPolicy"))
    if itp is not None and itp not in TRAFFIC_POLICIES:
        errs.append(not_supported("spec.internalTrafficPolicy", itp, TRAFFIC_POLICIES))
    distribution = spec.get("trafficDistribution")
    if distribution is not None and distribution != "PreferClose":
        errs.append(not_supported("spec.trafficDistribution", distribution, ["PreferClose"]))
    return errs


def _validate_cluster_ips_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    if _is_headless(spec) and _is_headless(old_spec):
        return []
    new_ips = [str(ip) for ip in get_list(spec, "clusterIPs")]
    old_ips = [str(ip) for ip in get_list(old_spec, "clusterIPs")]
    value = go_string_slice(new_ips)
    if len(new_ips) == len(old_ips):
        return [
            invalid(index("spec.clusterIPs", i), value, "may not change once set")
            for i, ip in enumerate(old_ips)
            if ip != new_ips[i]
        ]
    if not new_ips:
        return [invalid("spec.clusterIPs[0]", value, "primary clusterIP can not be unset")]
    if old_ips and new_ips[0] != old_ips[0]:
        return [invalid("spec.clusterIPs[0]", value, "may not change once set")]
    return []


def _validate_ip_families_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    if _is_headless(spec) or _is_headless(old_spec):
        return []
    new, old = get_list(spec, "ipFamilies"), get_list(old_spec, "ipFamilies")
    if len(new) == len(old):
        value = go_string_slice(new, "core.IPFamily")
        return [
            invalid("spec.ipFamilies[0]", value, "may not change once set")
            for i, family in enumerate(old)
            if family != new[i]
        ]
    if new and old and new[0] != old[0]:
        # Upstream shows the cluster IPs here, not the families.
        value = go_string_slice([str(ip) for ip in get_list(spec, "clusterIPs")])
        return [invalid("spec.ipFamilies[0]", value, "may not change once set")]
    return []
