"""The simulated Endpoints and EndpointSlice controllers follow pod readiness.

Pods are created and their status set directly by the test (the real kubelet is written
elsewhere), through ``kubectl patch --subresource=status``."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from pilothouse.apiserver import server
from pilothouse.apiserver.simulation import endpoints
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    cfg = server.ServerConfig(
        simulation=True,
        simulation_controllers=(
            endpoints.EndpointsController,
            endpoints.EndpointSliceController,
        ),
    )
    with ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig") as st:
        yield st


def _get(cluster: ServerThread, *args: str) -> Any:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _pod(cluster: ServerThread, name: str, ip: str, ready: bool, app: str = "web") -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "nodeName": "node-1",
            "containers": [
                {"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}
            ],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    _set_ready(cluster, name, ip, ready)


def _set_ready(cluster: ServerThread, name: str, ip: str, ready: bool) -> None:
    status = {
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
    }
    cluster.kubectl(
        "patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )


def _service(cluster: ServerThread, name: str, **spec: Any) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"team": "a"}},
        "spec": {"ports": [{"name": "web", "port": 80, "targetPort": "http"}], **spec},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(svc))


def _slice(cluster: ServerThread, svc: str) -> Any:
    items = _get(cluster, "endpointslices", "-l", f"kubernetes.io/service-name={svc}")["items"]
    assert len(items) == 1, items
    return items[0]


def test_endpoints_follow_readiness(cluster: ServerThread) -> None:
    _pod(cluster, "a", "10.0.0.1", ready=True)
    _pod(cluster, "b", "10.0.0.2", ready=False)
    _pod(cluster, "other", "10.0.0.9", ready=True, app="db")
    _service(cluster, "web", selector={"app": "web"})

    def initial() -> bool:
        ep = _get(cluster, "endpoints", "web")
        [subset] = ep["subsets"]
        assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.1"]
        assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.0.0.2"]
        assert subset["addresses"][0]["targetRef"]["name"] == "a"
        assert subset["addresses"][0]["nodeName"] == "node-1"
        assert subset["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
        sl = _slice(cluster, "web")
        assert sl["metadata"]["name"].startswith("web-") and len(sl["metadata"]["name"]) == 9
        assert sl["metadata"]["labels"][endpoints.MANAGED_BY] == endpoints.SLICE_MANAGER
        assert sl["addressType"] == "IPv4"
        assert sl["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
        conds = {e["addresses"][0]: e["conditions"] for e in sl["endpoints"]}
        assert conds == {
            "10.0.0.1": {"ready": True, "serving": True, "terminating": False},
            "10.0.0.2": {"ready": False, "serving": False, "terminating": False},
        }
        return True

    eventually(initial, timeout=10)
    _set_ready(cluster, "b", "10.0.0.2", ready=True)

    def both_ready() -> bool:
        [subset] = _get(cluster, "endpoints", "web")["subsets"]
        assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.1", "10.0.0.2"]
        assert "notReadyAddresses" not in subset
        sl = _slice(cluster, "web")
        assert all(e["conditions"]["ready"] for e in sl["endpoints"])
        return True

    eventually(both_ready, timeout=10)
    # Stable: no write loops once converged.
    rv = _slice(cluster, "web")["metadata"]["resourceVersion"]
    ep_rv = _get(cluster, "endpoints", "web")["metadata"]["resourceVersion"]
    cluster.kubectl("label", "pod", "a", "app=gone", "--overwrite")

    def removed() -> bool:
        [subset] = _get(cluster, "endpoints", "web")["subsets"]
        assert [a["ip"] for a in subset["addresses"]] == ["10.0.0.2"]
        assert len(_slice(cluster, "web")["endpoints"]) == 1
        return True

    eventually(removed, timeout=10)
    assert _get(cluster, "endpoints", "web")["metadata"]["resourceVersion"] != ep_rv
    assert _slice(cluster, "web")["metadata"]["resourceVersion"] != rv
    cluster.kubectl("delete", "service", "web")
    eventually(
        lambda: cluster.kubectl("get", "endpoints", "web", check=False).returncode != 0,
        timeout=10,
    )


def test_a_changed_selector_routes_later_pod_events(cluster: ServerThread) -> None:
    # The controller remembers Services' selectors per resourceVersion: after an edit, pod
    # events must be matched against the new selector, not the remembered one.
    _service(cluster, "api", selector={"app": "old"})
    _pod(cluster, "p", "10.0.1.1", ready=False, app="new")
    cluster.kubectl(
        "patch", "service", "api", "-p", json.dumps({"spec": {"selector": {"app": "new"}}})
    )

    def not_ready() -> bool:
        [subset] = _get(cluster, "endpoints", "api")["subsets"]
        return [a["ip"] for a in subset.get("notReadyAddresses", [])] == ["10.0.1.1"]

    eventually(not_ready, timeout=10)
    _set_ready(cluster, "p", "10.0.1.1", ready=True)  # a pod event only

    def ready() -> bool:
        [subset] = _get(cluster, "endpoints", "api")["subsets"]
        return [a["ip"] for a in subset.get("addresses", [])] == ["10.0.1.1"]

    eventually(ready, timeout=10)


def test_headless_and_selectorless(cluster: ServerThread) -> None:
    _pod(cluster, "a", "10.0.0.1", ready=True)
    _service(cluster, "hl", selector={"app": "web"}, clusterIP="None")
    _service(cluster, "manual")
    bare = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dns"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(bare))

    def headless() -> bool:
        sl = _slice(cluster, "hl")
        assert "service.kubernetes.io/headless" in sl["metadata"]["labels"]
        assert [e["addresses"] for e in sl["endpoints"]] == [["10.0.0.1"]]
        assert _get(cluster, "endpoints", "hl")["subsets"][0]["addresses"][0]["ip"] == "10.0.0.1"
        [subset] = _get(cluster, "endpoints", "dns")["subsets"]
        assert subset == {
            "addresses": [
                {
                    "ip": "10.0.0.1",
                    "nodeName": "node-1",
                    "targetRef": subset["addresses"][0]["targetRef"],
                }
            ]
        }
        return True

    eventually(headless, timeout=10)
    assert cluster.kubectl("get", "endpoints", "manual", check=False).returncode != 0
    assert not _get(cluster, "endpointslices", "-l", "kubernetes.io/service-name=manual")["items"]


def test_resolve_ports_numeric_and_missing() -> None:
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 9000}, {"port": 81, "targetPort": "x"}]}}
    pod: dict[str, Any] = {"spec": {"containers": [{"name": "c"}]}}
    assert endpoints.resolve_ports(svc, pod) == (("", 9000, "TCP"),)
