"""CustomResourceDefinitions: served within milliseconds, validated, defaulted, pruned,
multi-version, with status/scale subresources and printer columns."""

from __future__ import annotations

import copy
import time
from typing import Any

from pilothouse.testing import apiserver
from pilothouse.testing.eventually import eventually
from pilothouse.testing.http import RawClient

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "gadgets",
            "singular": "gadget",
            "kind": "Gadget",
            "shortNames": ["gd"],
            "categories": ["all"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.replicas",
                        "statusReplicasPath": ".status.replicas",
                    },
                },
                "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["color"],
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.replicas <= 10",
                                        "message": "at most 10 replicas",
                                    }
                                ],
                                "properties": {
                                    "color": {"type": "string", "enum": ["red", "blue"]},
                                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                                    "tags": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "x-kubernetes-list-type": "set",
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"replicas": {"type": "integer"}},
                            },
                        },
                    }
                },
            },
            {
                "name": "v2",
                "served": True,
                "storage": False,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            },
        ],
    },
}
BASE = "/apis/example.com/v1/namespaces/default/gadgets"


def _install(raw: RawClient) -> None:
    t0 = time.monotonic()
    assert (
        raw.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD).status
        == 201
    )
    # Served at once: the very next request may use it.
    assert raw.request("GET", BASE).status == 200
    assert time.monotonic() - t0 < 1.0

    def established() -> bool:
        crd = raw.request(
            "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com"
        ).json()
        conds = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
        return conds.get("Established") == "True" and conds.get("NamesAccepted") == "True"

    eventually(established, message="CRD established")


def _gadget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_validation_defaulting_and_pruning(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    _install(raw)
    ok = raw.request("POST", BASE, _gadget("g1", color="red", extra="dropped"))
    assert ok.status == 201, ok.body
    body = ok.json()
    assert body["spec"] == {"color": "red", "replicas": 1}  # defaulted, pruned
    assert any("unknown field" in w for w in ok.header("Warning"))
    strict = raw.request(
        "POST", BASE + "?fieldValidation=Strict", _gadget("g2", color="red", extra=1)
    )
    assert strict.status == 400 and 'unknown field "spec.extra"' in strict.json()["message"]
    bad = raw.request("POST", BASE, _gadget("g3", color="green", replicas=-1))
    assert bad.status == 422
    status = bad.json()
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"spec.color", "spec.replicas"} <= fields
    assert (
        status["reason"] == "Invalid" and 'Gadget.example.com "g3" is invalid' in status["message"]
    )
    missing = raw.request("POST", BASE, _gadget("g4"))
    assert missing.status == 422 and "spec.color" in missing.json()["message"]
    cel = raw.request("POST", BASE, _gadget("g5", color="blue", replicas=11))
    assert cel.status == 422 and "at most 10 replicas" in cel.json()["message"]
    smp = raw.request(
        "PATCH",
        f"{BASE}/g1",
        {"spec": {"color": "blue"}},
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert smp.status == 415


def test_status_scale_generation_and_versions(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    _install(raw)
    g = raw.request("POST", BASE, _gadget("g", color="red", replicas=2)).json()
    assert g["metadata"]["generation"] == 1
    with_status = copy.deepcopy(g)
    with_status["status"] = {"replicas": 2}
    with_status["spec"]["color"] = "blue"
    st = raw.request("PUT", f"{BASE}/g/status", with_status).json()
    assert st["status"] == {"replicas": 2} and st["spec"]["color"] == "red"
    assert st["metadata"]["generation"] == 1
    scale = raw.request("GET", f"{BASE}/g/scale").json()
    assert (
        scale["kind"] == "Scale"
        and scale["spec"]["replicas"] == 2
        and scale["status"]["replicas"] == 2
    )
    patched = raw.request(
        "PATCH",
        f"{BASE}/g/scale",
        {"spec": {"replicas": 5}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status == 200 and patched.json()["spec"]["replicas"] == 5
    now = raw.request("GET", f"{BASE}/g").json()
    assert now["spec"]["replicas"] == 5 and now["metadata"]["generation"] == 2
    v2 = raw.request("GET", "/apis/example.com/v2/namespaces/default/gadgets/g").json()
    assert v2["apiVersion"] == "example.com/v2" and v2["spec"]["replicas"] == 5
    table = raw.request(
        "GET", BASE, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    ).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Replicas"]
    assert table["rows"][0]["cells"][:2] == ["g", 5]


def test_deleting_the_crd_removes_its_objects(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    _install(raw)
    for i in range(3):
        raw.request("POST", BASE, _gadget(f"g{i}", color="red"))
    resp = raw.request(
        "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com"
    )
    assert resp.status == 200
    eventually(lambda: raw.request("GET", BASE).status == 404, message="resource no longer served")
    # Recreating starts empty.
    _install(raw)
    assert raw.request("GET", BASE).json()["items"] == []
