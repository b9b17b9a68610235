"""Printers of Services, Endpoints, EndpointSlices, Ingresses and IngressClasses, checked
against printers_test.go cases. Objects are the versioned JSON the server stores."""

from __future__ import annotations

from typing import Any

import pytest
from printer_rows import cells


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (
            {
                "type": "ClusterIP",
                "clusterIP": "10.0.0.1",
                "clusterIPs": ["10.0.0.1"],
                "ports": [{"port": 80, "protocol": "TCP"}],
                "selector": {"app": "web"},
            },
            {},
            ["ClusterIP", "10.0.0.1", "<none>", "80/TCP", "app=web"],
        ),
        (
            {"clusterIP": "None", "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]},
            {},
            ["ClusterIP", "None", "<none>", "53/UDP,53/TCP", "<none>"],
        ),
        (
            {
                "type": "NodePort",
                "clusterIPs": ["10.0.0.2"],
                "externalIPs": ["1.2.3.4"],
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
            },
            {},
            ["NodePort", "10.0.0.2", "1.2.3.4", "80:30080/TCP", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "10.0.0.3"},
            {},
            ["LoadBalancer", "10.0.0.3", "<pending>", "<none>", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "10.0.0.3", "externalIPs": ["9.9.9.9"]},
            {"loadBalancer": {"ingress": [{"ip": "5.5.5.5"}, {"hostname": "lb.example.com"}]}},
            ["LoadBalancer", "10.0.0.3", "5.5.5.5,lb.example.com,9.9.9.9", "<none>", "<none>"],
        ),
        (
            {"type": "ExternalName", "externalName": "db.example.com"},
            {},
            ["ExternalName", "<none>", "db.example.com", "<none>", "<none>"],
        ),
    ],
)
def test_service(spec: dict[str, Any], status: dict[str, Any], expected: list[Any]) -> None:
    row = cells("", "services", {"metadata": {"name": "s"}, "spec": spec, "status": status})
    assert row[1:5] + row[6:] == expected


def test_endpoints() -> None:
    def endpoints(*subsets: dict[str, Any]) -> list[Any]:
        return cells("", "endpoints", {"metadata": {"name": "e"}, "subsets": list(subsets)})

    assert endpoints()[1] == "<none>"
    ips = [{"ip": f"10.0.0.{i}"} for i in range(1, 3)]
    assert endpoints({"addresses": ips, "ports": [{"port": 80}]})[1] == "10.0.0.1:80,10.0.0.2:80"
    assert endpoints({"addresses": ips})[1] == "10.0.0.1,10.0.0.2"
    assert endpoints({"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]})[1] == (
        "[fd00::1]:8080"
    )
    many: dict[str, Any] = {
        "addresses": ips,
        "ports": [{"port": 80}, {"port": 443}, {"port": 8080}],
    }
    assert endpoints(many)[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 3 more..."


def test_endpoint_slice() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "s"},
        "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "http"}, {}],
        "endpoints": [
            {"addresses": ["10.0.0.1", "10.0.0.2"]},
            {"addresses": ["10.0.0.3"]},
            {"addresses": ["10.0.0.4"]},
        ],
    }
    assert cells("discovery.k8s.io", "endpointslices", obj) == [
        "s",
        "IPv4",
        "80,http,*",
        "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
        "<unknown>",
    ]
    empty: dict[str, Any] = {"metadata": {"name": "s"}, "addressType": "IPv6"}
    assert cells("discovery.k8s.io", "endpointslices", empty)[2:4] == ["<unset>", "<unset>"]


def test_ingress_and_ingress_class() -> None:
    rules = [
        {"host": "a.example"},
        {},
        {"host": "b.example"},
        {"host": "c.example"},
        {"host": "d.example"},
    ]
    obj: dict[str, Any] = {
        "metadata": {"name": "i"},
        "spec": {"ingressClassName": "nginx", "rules": rules, "tls": [{}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}},
    }
    assert cells("networking.k8s.io", "ingresses", obj) == [
        "i",
        "nginx",
        "a.example,b.example,c.example + 2 more...",
        "1.1.1.1",
        "80, 443",
        "<unknown>",
    ]
    assert cells("networking.k8s.io", "ingresses", {"metadata": {"name": "j"}})[1:5] == [
        "<none>",
        "*",
        "",
        "80",
    ]
    klass: dict[str, Any] = {
        "metadata": {"name": "nginx"},
        "spec": {
            "controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "Params", "name": "p"},
        },
    }
    assert cells("networking.k8s.io", "ingressclasses", klass)[1:3] == [
        "k8s.io/ingress-nginx",
        "Params.k8s.example.com/p",
    ]
