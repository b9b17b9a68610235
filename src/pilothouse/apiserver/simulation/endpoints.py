"""The simulated Endpoints and EndpointSlice controllers (kube-controller-manager's
``endpoint-controller`` and ``endpointslice-controller``).

Design choices:

* Both controllers reconcile a Service (``services``) and watch ``pods``; a pod event maps to
  the services in its namespace whose selector matched the pod before or after the change, so
  a pod that stops matching still updates the service it left. Services without a selector are
  never touched (their Endpoints are the user's).
* A pod is an endpoint when it has a ``podIP`` and is not terminal; it is ready when its
  ``Ready`` condition is True (or the service sets ``publishNotReadyAddresses``). Terminating
  pods leave Endpoints but stay in slices with ``serving``/``terminating`` set, as upstream.
* Named ``targetPort``s are resolved per pod against its container ports, so pods exposing a
  name on different numbers end up in different subsets/slices, keyed by the resolved ports.
* Slice names are ``<service>-<hash5>`` with the hash derived from the service uid and the
  port set rather than random, so a retried reconcile finds the slice it made instead of
  creating a twin; slices carry the service as controller owner so garbage collection removes
  them with it. The Endpoints object (same name as the service) is deleted with the service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from pilothouse.apiserver import state
from pilothouse.apiserver.simulation import base
from pilothouse.apiserver.store import records

SLICES = "endpointslices.discovery.k8s.io"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_MANAGER = "endpointslice-controller.k8s.io"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

Ports = tuple[tuple[str, int, str], ...]


def _selects(svc: base.Obj, pod_labels: Any) -> bool:
    sel = (svc.get("spec") or {}).get("selector")
    return _matches(sel, pod_labels) if sel else False


def _matches(sel: dict[str, str], pod_labels: Any) -> bool:
    return all(pod_labels.get(k) == v for k, v in sel.items())


#: Services whose selectors stay decoded (per controller) before the cache starts over.
_MAX_CACHED_SELECTORS = 10_000


def _ready(pod: base.Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def resolve_ports(svc: base.Obj, pod: base.Obj) -> Ports:
    """The service's ports resolved against ``pod``'s containers (named targetPorts)."""
    out: list[tuple[str, int, str]] = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        target = sp.get("targetPort", sp.get("port"))
        proto = sp.get("protocol", "TCP")
        if isinstance(target, str) and not target.isdigit():
            found = None
            for c in (pod.get("spec") or {}).get("containers") or []:
                for cp in c.get("ports") or []:
                    if cp.get("name") == target and cp.get("protocol", "TCP") == proto:
                        found = cp.get("containerPort")
            if found is None:
                continue  # this pod does not expose the named port
            target = found
        out.append((str(sp.get("name", "")), int(target), str(proto)))
    return tuple(out)


def _hash5(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])


def _target_ref(pod: base.Obj) -> base.Obj:
    m = pod["metadata"]
    return {"kind": "Pod", "namespace": m["namespace"], "name": m["name"], "uid": m["uid"]}


def _port_list(ports: Ports) -> list[base.Obj]:
    out = []
    for name, port, proto in ports:
        p: base.Obj = {"port": port, "protocol": proto}
        if name:
            p["name"] = name
        out.append(p)
    return out


class _ServiceController(base.Controller):
    resource = "services"
    watches: tuple[str, ...] = ("pods",)

    def __init__(self, st: state.ServerState, config: base.SimulationConfig) -> None:
        super().__init__(st, config)
        #: (namespace, name) -> (resourceVersion, spec.selector) of Services seen.
        self._selectors: dict[base.Key, tuple[int, dict[str, str] | None]] = {}

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        if rec.group_resource == "services":
            return [(rec.namespace, rec.name)]
        keys: list[base.Key] = []
        for svc_rec in self.st.store.iter("services", rec.namespace):
            sel = self._selector(svc_rec)
            if sel and (
                _matches(sel, rec.labels)
                or (event.prev is not None and _matches(sel, event.prev.labels))
            ):
                keys.append((svc_rec.namespace, svc_rec.name))
        return keys

    def _selector(self, svc_rec: records.Record) -> dict[str, str] | None:
        # Every pod event is tested against every Service in its namespace: decoding each
        # Service for it made pod churn quadratic (a thousand workspaces, each with a
        # Service, spent most of the server's time here). Selectors are kept per
        # resourceVersion instead, so a Service is decoded once per change.
        key = (svc_rec.namespace, svc_rec.name)
        hit = self._selectors.get(key)
        if hit is not None and hit[0] == svc_rec.rv:
            return hit[1]
        sel = (svc_rec.obj().get("spec") or {}).get("selector") or None
        if len(self._selectors) >= _MAX_CACHED_SELECTORS:
            # Entries of deleted Services accumulate: start over rather than grow forever.
            self._selectors.clear()
        self._selectors[key] = (svc_rec.rv, sel)
        return sel

    def endpoints_of(self, svc: base.Obj) -> list[tuple[base.Obj, Ports]]:
        ns = svc["metadata"]["namespace"]
        out = []
        for rec in self.st.store.iter("pods", ns):
            if not _selects(svc, rec.labels):
                continue
            pod = rec.obj()
            status = pod.get("status") or {}
            if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
                continue
            out.append((pod, resolve_ports(svc, pod)))
        return out


class EndpointsController(_ServiceController):
    name = "endpoint-controller"

    async def reconcile(self, key: base.Key) -> None:
        svc = self.get("services", *key)
        existing = self.get("endpoints", *key)
        if svc is None or svc["metadata"].get("deletionTimestamp"):
            if existing is not None:
                await self.delete("endpoints", *key, uid=existing["metadata"]["uid"])
            return
        if not (svc.get("spec") or {}).get("selector"):
            return
        spec = svc.get("spec") or {}
        publish = bool(spec.get("publishNotReadyAddresses"))
        subsets: dict[Ports, base.Obj] = {}
        for pod, ports in sorted(self.endpoints_of(svc), key=lambda e: e[0]["status"]["podIP"]):
            if pod["metadata"].get("deletionTimestamp") and not publish:
                continue
            addr: base.Obj = {"ip": pod["status"]["podIP"], "targetRef": _target_ref(pod)}
            if (pod.get("spec") or {}).get("nodeName"):
                addr["nodeName"] = pod["spec"]["nodeName"]
            sub = subsets.setdefault(ports, {})
            field = "addresses" if publish or _ready(pod) else "notReadyAddresses"
            sub.setdefault(field, []).append(addr)
        # A headless service without ports still lists its addresses (DNS-only services).
        portless = spec.get("clusterIP") == "None" and not spec.get("ports")
        subset_list = []
        for ports, sub in sorted(subsets.items()):
            if ports:
                subset_list.append({**sub, "ports": _port_list(ports)})
            elif portless:
                subset_list.append(sub)
        meta_labels = dict(svc["metadata"].get("labels") or {})
        if (svc.get("spec") or {}).get("clusterIP") == "None":
            meta_labels["service.kubernetes.io/headless"] = ""
        if existing is None:
            obj: base.Obj = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": key[1], "namespace": key[0], "labels": meta_labels},
            }
            if subset_list:
                obj["subsets"] = subset_list
            await self.create("endpoints", key[0], obj)
            return
        if (existing.get("subsets") or []) == subset_list and (
            existing["metadata"].get("labels") or {}
        ) == meta_labels:
            return
        existing["metadata"]["labels"] = meta_labels
        existing["subsets"] = subset_list
        if not subset_list:
            existing.pop("subsets")
        await self.update("endpoints", existing)


class EndpointSliceController(_ServiceController):
    name = "endpointslice-controller"
    watches = ("pods", SLICES)

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        if rec.group_resource == SLICES:
            name = rec.labels.get("kubernetes.io/service-name")
            return [(rec.namespace, name)] if name else []
        return super().keys_for(event)

    async def reconcile(self, key: base.Key) -> None:
        svc = self.get("services", *key)
        if svc is None or svc["metadata"].get("deletionTimestamp"):
            return  # garbage collection removes the owned slices
        if not (svc.get("spec") or {}).get("selector"):
            return
        spec = svc.get("spec") or {}
        publish = bool(spec.get("publishNotReadyAddresses"))
        groups: dict[Ports, list[base.Obj]] = {}
        for pod, ports in sorted(self.endpoints_of(svc), key=lambda e: e[0]["status"]["podIP"]):
            terminating = bool(pod["metadata"].get("deletionTimestamp"))
            ready = _ready(pod)
            ep: base.Obj = {
                "addresses": [pod["status"]["podIP"]],
                "conditions": {
                    "ready": (ready or publish) and not terminating,
                    "serving": ready or publish,
                    "terminating": terminating,
                },
                "targetRef": _target_ref(pod),
            }
            if (pod.get("spec") or {}).get("nodeName"):
                ep["nodeName"] = pod["spec"]["nodeName"]
            groups.setdefault(ports, []).append(ep)
        if not groups:
            groups[()] = []  # the placeholder slice of a service without endpoints
        uid = svc["metadata"]["uid"]
        slice_labels = {
            **(svc["metadata"].get("labels") or {}),
            "kubernetes.io/service-name": key[1],
            MANAGED_BY: SLICE_MANAGER,
        }
        if spec.get("clusterIP") == "None":
            slice_labels["service.kubernetes.io/headless"] = ""
        existing = {
            s["metadata"]["name"]: s
            for s in self.owned_by(SLICES, svc)
            if (s["metadata"].get("labels") or {}).get(MANAGED_BY) == SLICE_MANAGER
        }
        wanted: set[str] = set()
        for ports, eps in groups.items():
            name = f"{key[1]}-{_hash5(uid, repr(ports))}"
            wanted.add(name)
            body: base.Obj = {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": name,
                    "namespace": key[0],
                    "labels": slice_labels,
                    "ownerReferences": [base.controller_ref(svc, "v1", "Service")],
                },
                "addressType": "IPv4",
                "endpoints": eps,
                "ports": _port_list(ports),
            }
            old = existing.get(name)
            if old is None:
                await self.create(SLICES, key[0], body)
                continue
            if (
                (old.get("endpoints") or []) == eps
                and (old.get("ports") or []) == body["ports"]
                and (old["metadata"].get("labels") or {}) == slice_labels
            ):
                continue
            old["metadata"]["labels"] = slice_labels
            old["endpoints"] = eps
            old["ports"] = body["ports"]
            await self.update(SLICES, old)
        for name, old in existing.items():
            if name not in wanted:
                await self.delete(SLICES, key[0], name, uid=old["metadata"]["uid"])
