"""Printers of Deployments, ReplicaSets, ReplicationControllers, StatefulSets, DaemonSets and
ControllerRevisions, checked against printers_test.go cases. Objects are the versioned JSON
the server stores."""

from __future__ import annotations

from typing import Any

from printer_rows import TEMPLATE, ago, cells, narrow


def test_deployment() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "d", "creationTimestamp": ago(minutes=5)},
        "spec": {
            "replicas": 3,
            "template": TEMPLATE,
            "selector": {
                "matchLabels": {"app": "web", "tier": "fe"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}],
            },
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert cells("apps", "deployments", obj) == [
        "d",
        "2/3",
        3,
        2,
        "5m",
        "web,log",
        "nginx,busybox",
        "app=web,env in (dev,prod),tier=fe",
    ]
    defaulted = {"metadata": {"name": "e"}, "spec": {"selector": {}}}
    assert cells("apps", "deployments", defaulted)[1:4] == ["0/1", 0, 0]
    assert cells("apps", "deployments", defaulted)[-1] == ""
    bad = {
        "metadata": {"name": "b"},
        "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}},
    }
    assert cells("apps", "deployments", bad)[-1] == "<invalid>"


def test_replica_set_stateful_set_daemon_set() -> None:
    rs: dict[str, Any] = {
        "metadata": {"name": "rs"},
        "spec": {"replicas": 2, "template": TEMPLATE, "selector": {"matchLabels": {"app": "a"}}},
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert cells("apps", "replicasets", rs) == [
        "rs",
        2,
        2,
        1,
        "<unknown>",
        "web,log",
        "nginx,busybox",
        "app=a",
    ]
    rc: dict[str, Any] = {
        "metadata": {"name": "rc"},
        "spec": {"replicas": 1, "selector": {"app": "a"}},
    }
    assert cells("", "replicationcontrollers", rc) == ["rc", 1, 0, 0, "<unknown>", "", "", "app=a"]
    sts: dict[str, Any] = {
        "metadata": {"name": "s"},
        "spec": {"replicas": 3, "template": TEMPLATE},
        "status": {"readyReplicas": 3},
    }
    assert narrow("apps", "statefulsets", sts) == ["s", "3/3", "<unknown>"]
    ds: dict[str, Any] = {
        "metadata": {"name": "ds"},
        "spec": {
            "template": {"spec": {"nodeSelector": {"os": "linux"}, "containers": []}},
            "selector": {"matchLabels": {"app": "d"}},
        },
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert cells("apps", "daemonsets", ds) == [
        "ds",
        3,
        3,
        2,
        3,
        2,
        "os=linux",
        "<unknown>",
        "",
        "",
        "app=d",
    ]
    ds["spec"] = {}
    assert cells("apps", "daemonsets", ds)[6] == "<none>"
    assert cells("apps", "daemonsets", ds)[-1] == "<none>"


def test_controller_revision() -> None:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "web-7d",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}
            ],
        },
        "revision": 2,
    }
    assert cells("apps", "controllerrevisions", obj) == [
        "web-7d",
        "statefulset.apps/web",
        2,
        "<unknown>",
    ]
    obj["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": True}
    ]
    assert cells("apps", "controllerrevisions", obj)[1] == "pod/p"
    obj["metadata"]["ownerReferences"] = []
    assert cells("apps", "controllerrevisions", obj)[1] == "<none>"
