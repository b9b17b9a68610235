"""Printers of service networking: Services, Endpoints, EndpointSlices, Ingresses,
IngressClasses and NetworkPolicies.

Design choice: the server prints in wide mode, so address lists upstream would shorten for a
narrow terminal (load-balancer ingress points) are never truncated here; lists upstream caps
server-side (endpoints, ports) keep its ``+ N more...`` form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.printers.format import age, format_labels, format_selector
from pilothouse.apiserver.printers.reading import (
    Obj,
    as_int,
    as_str,
    list_at,
    map_at,
    maps_at,
    name_of,
)
from pilothouse.apiserver.printers.registry import (
    AGE,
    NAME,
    column,
    register,
    register_simple,
    wide,
)


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _with_more(items: list[str], count: int, limit: int = 3, empty: str = "<unset>") -> str:
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or empty


def _format_endpoints(obj: Obj) -> str:
    subsets = maps_at(obj, "subsets")
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [as_str(a.get("ip")) for a in maps_at(subset, "addresses")]
        ports = maps_at(subset, "ports")
        if not ports:  # headless services may have no ports
            count += len(addresses)
            shown += addresses
        for port in ports:
            count += len(addresses)
            shown += [_host_port(ip, as_int(port.get("port"))) for ip in addresses]
    return _with_more(shown, count, empty="")


register_simple(
    "",
    "endpoints",
    column("Endpoints", ("core.v1.Endpoints", "subsets")),
    lambda o: _format_endpoints(o),
)


register_simple(
    "networking.k8s.io",
    "networkpolicies",
    column("Pod-Selector", ("networking.v1.NetworkPolicySpec", "podSelector")),
    lambda o: format_selector(map_at(o, "spec").get("podSelector")),
)


@register(
    "discovery.k8s.io",
    "endpointslices",
    NAME,
    column("AddressType", ("discovery.v1.EndpointSlice", "addressType")),
    column("Ports", ("discovery.v1.EndpointSlice", "ports")),
    column("Endpoints", ("discovery.v1.EndpointSlice", "endpoints")),
    AGE,
)
def _endpoint_slice(obj: Obj, now: dt.datetime) -> list[Any]:
    ports = [
        str(p["port"]) if isinstance(p.get("port"), int) else as_str(p.get("name"), "*")
        for p in maps_at(obj, "ports")
    ]
    addresses = [a for e in maps_at(obj, "endpoints") for a in list_at(e, "addresses")]
    return [
        name_of(obj),
        as_str(obj.get("addressType")),
        _with_more(ports, len(ports)),
        _with_more([str(a) for a in addresses], len(addresses)),
        age(obj, now),
    ]


def _load_balancer(status: Obj) -> str:
    ingress = maps_at(status, "loadBalancer", "ingress")
    found = {as_str(i.get("ip")) or as_str(i.get("hostname")) for i in ingress} - {""}
    return ",".join(sorted(found))  # wide output: never truncated server-side


def _external_ip(spec: Obj, status: Obj) -> str:
    kind = as_str(spec.get("type"), "ClusterIP")
    external = [str(ip) for ip in list_at(spec, "externalIPs")]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        balancers = _load_balancer(status)
        if external:
            return ",".join(([balancers] if balancers else []) + external)
        return balancers or "<pending>"
    if kind == "ExternalName":
        return as_str(spec.get("externalName"))
    return "<unknown>"


_SVC = ("core.v1.ServiceSpec",)


@register(
    "",
    "services",
    NAME,
    column("Type", (*_SVC, "type")),
    column("Cluster-IP", (*_SVC, "clusterIP")),
    column("External-IP", (*_SVC, "externalIPs")),
    column("Port(s)", (*_SVC, "ports")),
    AGE,
    wide("Selector", (*_SVC, "selector")),
)
def _service(obj: Obj, now: dt.datetime) -> list[Any]:
    spec = map_at(obj, "spec")
    cluster_ips = list_at(spec, "clusterIPs")
    cluster_ip = as_str(spec.get("clusterIP")) or (as_str(cluster_ips[0]) if cluster_ips else "")
    ports = []
    for port in maps_at(spec, "ports"):
        node_port, protocol = as_int(port.get("nodePort")), as_str(port.get("protocol"), "TCP")
        middle = f":{node_port}" if node_port > 0 else ""
        ports.append(f"{as_int(port.get('port'))}{middle}/{protocol}")
    return [
        name_of(obj),
        as_str(spec.get("type"), "ClusterIP"),
        cluster_ip or "<none>",
        _external_ip(spec, map_at(obj, "status")),
        ",".join(ports) or "<none>",
        age(obj, now),
        format_labels(spec.get("selector")),
    ]


@register(
    "networking.k8s.io",
    "ingresses",
    NAME,
    column(
        "Class",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
    column("Address", "Address is a list containing ingress points for the load-balancer"),
    column("Ports", "Ports of TLS configurations that open"),
    AGE,
)
def _ingress(obj: Obj, now: dt.datetime) -> list[Any]:
    spec = map_at(obj, "spec")
    rules = maps_at(spec, "rules")
    hosts: list[str] = []
    more = False
    for rule in rules:  # up to three named hosts; "more" once a fourth rule follows
        more = more or len(hosts) == 3
        if not more and as_str(rule.get("host")):
            hosts.append(rule["host"])
    shown = ",".join(hosts) + (f" + {len(rules) - 3} more..." if more else "")
    return [
        name_of(obj),
        as_str(spec.get("ingressClassName"), "<none>"),
        shown if hosts else "*",
        _load_balancer(map_at(obj, "status")),
        "80, 443" if list_at(spec, "tls") else "80",
        age(obj, now),
    ]


@register(
    "networking.k8s.io",
    "ingressclasses",
    NAME,
    column("Controller", "Controller that is responsible for handling this class"),
    column("Parameters", "A reference to a resource with additional parameters"),
    AGE,
)
def _ingress_class(obj: Obj, now: dt.datetime) -> list[Any]:
    spec = map_at(obj, "spec")
    params = spec.get("parameters")
    shown = "<none>"
    if isinstance(params, Mapping):
        group = params.get("apiGroup")
        kind = as_str(params.get("kind")) + (f".{group}" if isinstance(group, str) else "")
        shown = f"{kind}/{as_str(params.get('name'))}"
    return [name_of(obj), as_str(spec.get("controller")), shown, age(obj, now)]
