"""Printers of Nodes, RBAC bindings, PriorityClasses and APIServices, checked against
printers_test.go cases. Objects are the versioned JSON the server stores."""

from __future__ import annotations

from typing import Any

import pytest
from printer_rows import cells

from pilothouse.apiserver import printers


@pytest.mark.parametrize(
    ("conditions", "unschedulable", "status"),
    [
        ([{"type": "Ready", "status": "True"}], False, "Ready"),
        ([{"type": "Ready", "status": "False"}], False, "NotReady"),
        ([{"type": "Ready", "status": "Unknown"}], True, "NotReady,SchedulingDisabled"),
        ([{"type": "MemoryPressure", "status": "False"}], False, "Unknown"),
        ([], True, "Unknown,SchedulingDisabled"),
    ],
)
def test_node_status(conditions: list[dict[str, str]], unschedulable: bool, status: str) -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "n"},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": conditions},
    }
    assert cells("", "nodes", obj)[1] == status


def test_node_roles_and_wide_cells() -> None:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "n",
            "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/": "x",
                "kubernetes.io/role": "worker",
                "node-role.kubernetes.io/etcd": "true",
            },
        },
        "status": {
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian"},
            "addresses": [
                {"type": "Hostname", "address": "n"},
                {"type": "InternalIP", "address": "10.1.1.1"},
            ],
        },
    }
    assert cells("", "nodes", obj) == [
        "n",
        "Unknown",
        "control-plane,etcd,worker",
        "<unknown>",
        "v1.32.0",
        "10.1.1.1",
        "<none>",
        "Debian",
        "<unknown>",
        "<unknown>",
    ]
    assert cells("", "nodes", {"metadata": {"name": "m"}})[2] == "<none>"


def test_role_bindings() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "rb"},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"},
            {"kind": "User", "name": "bob"},
            {"kind": "Robot", "name": "r"},
        ],
    }
    expected = ["rb", "ClusterRole/view", "<unknown>", "alice, bob", "devs", "ns/sa"]
    assert cells("rbac.authorization.k8s.io", "rolebindings", obj) == expected
    assert cells("rbac.authorization.k8s.io", "clusterrolebindings", obj) == expected
    printer = printers.printer_for("rbac.authorization.k8s.io", "clusterrolebindings")
    assert printer is not None and printer.columns[3].doc == "Users in the clusterRoleBinding"


def test_priority_class() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "high"},
        "value": 1000,
        "globalDefault": True,
        "preemptionPolicy": "Never",
    }
    assert cells("scheduling.k8s.io", "priorityclasses", obj) == [
        "high",
        1000,
        True,
        "<unknown>",
        "Never",
    ]


def test_api_service() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
        "status": {
            "conditions": [
                {"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck"}
            ]
        },
    }
    assert cells("apiregistration.k8s.io", "apiservices", obj)[1:3] == [
        "kube-system/metrics-server",
        "False (FailedDiscoveryCheck)",
    ]
    local: dict[str, Any] = {"metadata": {"name": "v1.apps"}, "spec": {}}
    assert cells("apiregistration.k8s.io", "apiservices", local)[1:3] == ["Local", "Unknown"]
