"""Events recorded through events.k8s.io/v1 are core v1 Events too (and the reverse), so
``kubectl describe`` shows what operators record with the newer API."""

from __future__ import annotations

from pilothouse.testing import apiserver
from pilothouse.testing.http import RawClient

NEW = "/apis/events.k8s.io/v1/namespaces/default/events"
CORE = "/api/v1/namespaces/default/events"


def test_events_k8s_io_event_is_a_core_event(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    cm = raw.request(
        "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "target"}}
    ).json()
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "target.1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/controller",
        "reportingInstance": "controller-0",
        "action": "Reconcile",
        "reason": "Synced",
        "type": "Normal",
        "note": "all good",
        "regarding": {
            "kind": "ConfigMap",
            "namespace": "default",
            "name": "target",
            "uid": cm["metadata"]["uid"],
            "apiVersion": "v1",
        },
    }
    created = raw.request("POST", NEW, event)
    assert created.status == 201, created.body
    assert created.json()["note"] == "all good"
    core = raw.request("GET", f"{CORE}/target.1").json()
    assert core["apiVersion"] == "v1"
    assert core["message"] == "all good"
    assert core["involvedObject"]["name"] == "target"
    assert core["reportingComponent"] == "example.com/controller"
    selected = raw.request("GET", f"{CORE}?fieldSelector=involvedObject.name%3Dtarget").json()
    assert [e["metadata"]["name"] for e in selected["items"]] == ["target.1"]
    by_new_name = raw.request("GET", f"{NEW}?fieldSelector=regarding.name%3Dtarget").json()
    assert by_new_name["items"][0]["regarding"]["uid"] == cm["metadata"]["uid"]
    described = cluster.kubectl("describe", "configmap", "target").stdout
    assert "Synced" in described and "all good" in described
    raw.request("DELETE", f"{CORE}/target.1")
    assert raw.request("GET", f"{NEW}/target.1").status == 404
