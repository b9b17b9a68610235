"""Kind-specific behaviour of built-in registries that is not defaulting or validation:
service IP and node-port allocation, the initial phase of pods and namespaces, the cleanup
finalizer of CRDs."""

from __future__ import annotations

import ipaddress
from typing import Any

from pilothouse.apiserver import errors, resources, state

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def _allocated_ips(st: state.ServerState) -> set[str]:
    """Every cluster IP in use, including writes not yet committed: exact, O(services)
    (from the field-selector values stored with each record; no object is decoded)."""
    return {
        ip
        for rec in st.store.iter("services")
        if (ip := (rec.fields or {}).get("spec.clusterIP")) and ip != "None"
    }


def _committed_ips(st: state.ServerState) -> set[str]:
    """The cluster IPs of committed Services, kept current by a store listener: what
    automatic allocation checks, in O(1). Writes still in flight are not in it, but their
    addresses lie behind the allocation cursor (see :func:`_next_free_ip`)."""
    if st.service_ips is None:
        st.service_ips = _allocated_ips(st)
        st.store.listeners.append(lambda events: _track(st, events))
    return st.service_ips


def _track(st: state.ServerState, events: list[Any]) -> None:
    ips = st.service_ips
    if ips is None:
        return
    for e in events:
        if e.record.group_resource != "services":
            continue
        ip = (e.record.fields or {}).get("spec.clusterIP")
        if not ip or ip == "None":
            continue
        if e.type == "DELETED":
            ips.discard(ip)
        elif e.type == "ADDED":
            ips.add(ip)


def _allocate_ip(st: state.ServerState, obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    if spec.get("type") == "ExternalName":
        return
    ip = spec.get("clusterIP")
    if ip == "None":
        spec["clusterIPs"] = ["None"]
        return
    if ip:
        used = _allocated_ips(st)
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return  # validation reports it
        if addr not in SERVICE_CIDR:
            raise errors.invalid(
                "Service",
                obj["metadata"].get("name", ""),
                "",
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        f'Invalid value: "{ip}": failed to allocate IP {ip}: the provided IP '
                        f"({ip}) is not in the valid range. The range of valid IPs is "
                        f"{SERVICE_CIDR}",
                        "spec.clusterIPs",
                    )
                ],
            )
        if ip in used:
            raise errors.invalid(
                "Service",
                obj["metadata"].get("name", ""),
                "",
                [
                    errors.Cause(
                        "FieldValueInvalid",
                        f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: '
                        f"provided IP is already allocated",
                        "spec.clusterIPs",
                    )
                ],
            )
    else:
        ip = _next_free_ip(st, _committed_ips(st))
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]


_FIRST_HOST = int(SERVICE_CIDR.network_address) + 1
_LAST_HOST = int(SERVICE_CIDR.broadcast_address) - 1


def _next_free_ip(st: state.ServerState, used: set[str]) -> str:
    """The first free address at or after the last one handed out, wrapping once round the
    range: sequential like a fresh cluster's allocations (``10.96.0.1`` is the
    ``kubernetes`` Service's), and O(1) per Service instead of a scan from the start."""
    start = st.next_service_ip if _FIRST_HOST <= st.next_service_ip <= _LAST_HOST else _FIRST_HOST
    size = _LAST_HOST - _FIRST_HOST + 1
    for step in range(size):
        n = _FIRST_HOST + (start - _FIRST_HOST + step) % size
        cand = str(ipaddress.IPv4Address(n))
        if cand not in used:
            st.next_service_ip = n + 1
            return cand
    raise errors.internal("the service IP range is exhausted")


def _allocate_node_ports(st: state.ServerState, obj: dict[str, Any]) -> None:
    spec = obj.get("spec") or {}
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    used = {
        p.get("nodePort")
        for rec in st.store.iter("services")
        if (rec.fields or {}).get("spec.type") in ("NodePort", "LoadBalancer")
        for p in (rec.obj().get("spec") or {}).get("ports") or []
    }
    free = (p for p in NODE_PORTS if p not in used)
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and not port.get("nodePort"):
            port["nodePort"] = next(free)


def before_create(st: state.ServerState, rt: resources.ResourceType, obj: dict[str, Any]) -> None:
    gr = rt.group_resource
    if gr == "services":
        _allocate_ip(st, obj)
        _allocate_node_ports(st, obj)
    elif gr == "pods":
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj)}
    elif gr == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
        _namespace_label(obj)
    elif gr == "customresourcedefinitions.apiextensions.k8s.io":
        fins = obj["metadata"].setdefault("finalizers", [])
        if CRD_CLEANUP_FINALIZER not in fins:
            fins.append(CRD_CLEANUP_FINALIZER)


def _namespace_label(obj: dict[str, Any]) -> None:
    # The NamespaceDefaultLabelName admission plugin: every namespace carries its own name as
    # a label, so namespaceSelectors can pick namespaces by name.
    meta = obj["metadata"]
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")


def before_update(
    st: state.ServerState, rt: resources.ResourceType, obj: dict[str, Any], old: dict[str, Any]
) -> None:
    if rt.group_resource == "namespaces":
        _namespace_label(obj)
    if rt.group_resource == "services":
        spec, old_spec = obj.setdefault("spec", {}), old.get("spec") or {}
        # An update that omits the allocated IP keeps it (as kube's REST storage does).
        if (
            not spec.get("clusterIP")
            and old_spec.get("clusterIP")
            and spec.get("type") != "ExternalName"
        ):
            spec["clusterIP"] = old_spec["clusterIP"]
            spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])
        old_ports = {
            (p.get("port"), p.get("protocol")): p.get("nodePort")
            for p in old_spec.get("ports") or []
            if isinstance(p, dict)
        }
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and not p.get("nodePort"):
                np_ = old_ports.get((p.get("port"), p.get("protocol")))
                if np_:
                    p["nodePort"] = np_
        _allocate_node_ports(st, obj)


def _qos_class(pod: dict[str, Any]) -> str:
    containers = list((pod.get("spec") or {}).get("containers") or [])
    containers += list((pod.get("spec") or {}).get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = (c or {}).get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and req[r] != lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
