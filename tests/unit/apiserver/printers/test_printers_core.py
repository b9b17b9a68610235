"""The small one-column printers (ConfigMaps, Secrets, Namespaces, ServiceAccounts, Leases,
webhook configurations, NetworkPolicies) and Events of both APIs. Objects are the versioned
JSON the server stores."""

from __future__ import annotations

from typing import Any

from printer_rows import ago, cells

from pilothouse.apiserver import printers


def test_small_core_printers() -> None:
    meta = {"name": "x", "creationTimestamp": ago(seconds=42)}
    assert cells(
        "", "configmaps", {"metadata": meta, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}
    ) == ["x", 2, "42s"]
    assert cells(
        "",
        "secrets",
        {"metadata": meta, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
    ) == ["x", "kubernetes.io/tls", 2, "42s"]
    assert cells("", "secrets", {"metadata": meta})[1:3] == ["Opaque", 0]
    assert cells("", "namespaces", {"metadata": meta, "status": {"phase": "Terminating"}}) == [
        "x",
        "Terminating",
        "42s",
    ]
    assert cells("", "serviceaccounts", {"metadata": meta}) == ["x", 0, "42s"]
    assert cells(
        "coordination.k8s.io", "leases", {"metadata": meta, "spec": {"holderIdentity": "node-1"}}
    ) == ["x", "node-1", "42s"]
    for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        assert cells(
            "admissionregistration.k8s.io", kind, {"metadata": meta, "webhooks": [{}, {}]}
        ) == ["x", 2, "42s"]
    assert cells(
        "networking.k8s.io", "networkpolicies", {"metadata": meta, "spec": {"podSelector": {}}}
    ) == ["x", "<none>", "42s"]


def test_core_event() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "p.17"},
        "type": "Warning",
        "reason": "BackOff",
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
        "source": {"component": "kubelet", "host": "node-1"},
        "message": " Back-off \n",
        "firstTimestamp": ago(minutes=30),
        "lastTimestamp": ago(seconds=15),
        "count": 7,
    }
    assert cells("", "events", obj) == [
        "15s",
        "Warning",
        "BackOff",
        "pod/p",
        "spec.containers{c}",
        "kubelet, node-1",
        "Back-off",
        "30m",
        7,
        "p.17",
    ]
    printer = printers.printer_for("", "events")
    assert printer is not None
    assert [c.name for c in printer.columns if c.priority == 0] == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Message",
    ]


def test_new_style_events() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "e"},
        "type": "Normal",
        "reason": "Scheduled",
        "note": "ok",
        "regarding": {"kind": "Pod", "name": "p"},
        "reportingController": "scheduler",
        "eventTime": "2024-05-01T11:58:00.000000Z",
    }
    assert cells("events.k8s.io", "events", obj) == [
        "2m",
        "Normal",
        "Scheduled",
        "pod/p",
        "",
        "scheduler",
        "ok",
        "2m",
        1,
        "e",
    ]
    obj["series"] = {"count": 4, "lastObservedTime": "2024-05-01T11:59:30.000000Z"}
    assert cells("events.k8s.io", "events", obj)[0] == "30s"
    assert cells("events.k8s.io", "events", obj)[8] == 4
    core: dict[str, Any] = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}}
    assert cells("", "events", core)[:4] == ["<unknown>", "", "", "node"]
