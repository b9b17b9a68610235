"""Garbage collection over ownerReferences with each propagation policy, and namespace
termination."""

from __future__ import annotations

from typing import Any

from pilothouse.testing import apiserver
from pilothouse.testing.eventually import eventually
from pilothouse.testing.http import RawClient

CMS = "/api/v1/namespaces/default/configmaps"


def _owner_and_children(raw: RawClient, n: int = 3, block: bool = False) -> dict[str, Any]:
    owner = raw.request("POST", CMS, {"metadata": {"name": "owner"}}).json()
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": block,
    }
    for i in range(n):
        resp = raw.request(
            "POST", CMS, {"metadata": {"name": f"child-{i}", "ownerReferences": [ref]}}
        )
        assert resp.status == 201, resp.body
    return owner


def _names(raw: RawClient) -> set[str]:
    return {i["metadata"]["name"] for i in raw.request("GET", CMS).json()["items"]}


def test_background_deletes_dependents(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    _owner_and_children(raw)
    resp = raw.request("DELETE", f"{CMS}/owner", {"propagationPolicy": "Background"})
    assert resp.status == 200
    eventually(lambda: _names(raw) == set(), message="children collected")


def test_orphan_keeps_dependents_without_the_reference(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    _owner_and_children(raw)
    raw.request("DELETE", f"{CMS}/owner", {"propagationPolicy": "Orphan"})
    eventually(lambda: _names(raw) == {"child-0", "child-1", "child-2"})
    for i in range(3):
        child = raw.request("GET", f"{CMS}/child-{i}").json()
        assert "ownerReferences" not in child["metadata"]


def test_foreground_owner_waits_for_blocking_dependents(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    _owner_and_children(raw, block=True)
    # A finalizer on one child keeps it, and so keeps the owner in foreground deletion.
    child = raw.request("GET", f"{CMS}/child-0").json()
    child["metadata"]["finalizers"] = ["example.com/hold"]
    assert raw.request("PUT", f"{CMS}/child-0", child).status == 200
    resp = raw.request("DELETE", f"{CMS}/owner", {"propagationPolicy": "Foreground"})
    assert resp.status == 200
    assert "foregroundDeletion" in resp.json()["metadata"]["finalizers"]
    eventually(lambda: _names(raw) == {"owner", "child-0"})
    held = raw.request("GET", f"{CMS}/child-0").json()
    assert held["metadata"]["deletionTimestamp"]
    held["metadata"]["finalizers"] = []
    assert raw.request("PUT", f"{CMS}/child-0", held).status == 200
    eventually(lambda: _names(raw) == set(), message="owner deleted after its blocking dependent")


def test_finalizers_hold_deletion_and_refuse_new_ones(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    raw.request("POST", CMS, {"metadata": {"name": "held", "finalizers": ["example.com/a"]}})
    resp = raw.request("DELETE", f"{CMS}/held")
    assert resp.status == 200 and resp.json()["metadata"]["deletionTimestamp"]
    obj = raw.request("GET", f"{CMS}/held").json()
    obj["metadata"]["finalizers"].append("example.com/b")
    bad = raw.request("PUT", f"{CMS}/held", obj)
    assert bad.status == 422 and "no new finalizers" in bad.json()["message"]
    obj["metadata"]["finalizers"] = []
    assert raw.request("PUT", f"{CMS}/held", obj).status == 200
    assert raw.request("GET", f"{CMS}/held").status == 404


def test_namespace_termination_removes_contents(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    assert raw.request("POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}}).status == 201
    path = "/api/v1/namespaces/doomed/configmaps"
    for i in range(5):
        raw.request("POST", path, {"metadata": {"name": f"c{i}"}})
    raw.request("POST", path, {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    resp = raw.request("DELETE", "/api/v1/namespaces/doomed")
    assert resp.status == 200 and resp.json()["status"]["phase"] == "Terminating"
    refused = raw.request("POST", path, {"metadata": {"name": "late"}})
    assert refused.status == 403 and "being terminated" in refused.json()["message"]
    eventually(
        lambda: (
            [i["metadata"]["name"] for i in raw.request("GET", path).json()["items"]] == ["held"]
        )
    )
    held = raw.request("GET", f"{path}/held").json()
    held["metadata"]["finalizers"] = []
    raw.request("PUT", f"{path}/held", held)
    eventually(
        lambda: raw.request("GET", "/api/v1/namespaces/doomed").status == 404,
        message="namespace gone",
    )
