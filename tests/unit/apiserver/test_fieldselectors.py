"""Per-resource selectable fields: accepted labels, conversion errors, field values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.api import fields
from pilothouse.apiserver.fieldselectors import (
    KINDS_WITH_FIELDS,
    FieldLabelError,
    crd_field_labels,
    crd_field_set,
    field_labels,
    field_set,
    supported_fields,
)

META = {"metadata.name", "metadata.namespace"}


@pytest.mark.parametrize(
    ("group_resource", "expected"),
    [
        (
            "pods",
            META
            | {
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
                "spec.host",
            },
        ),
        ("nodes", {"metadata.name", "spec.unschedulable"}),
        ("namespaces", {"metadata.name", "status.phase"}),
        ("secrets", META | {"type"}),
        ("services", META | {"spec.clusterIP", "spec.type"}),
        ("replicationcontrollers", META | {"status.replicas"}),
        ("jobs.batch", META | {"status.successful"}),
        ("certificatesigningrequests.certificates.k8s.io", {"metadata.name", "spec.signerName"}),
        (
            "events",
            META
            | {
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            },
        ),
        (
            "events.events.k8s.io",
            META
            | {
                "regarding.kind",
                "regarding.namespace",
                "regarding.name",
                "regarding.uid",
                "regarding.apiVersion",
                "regarding.resourceVersion",
                "regarding.fieldPath",
                "reason",
                "reportingController",
                "source",
                "type",
            },
        ),
        # apps/v1 registers no conversion for ReplicaSet (kubernetes/kubernetes#135136).
        ("replicasets.apps", META),
        ("configmaps", META),
        ("deployments.apps", META),
        ("clusterroles.rbac.authorization.k8s.io", META),
    ],
)
def test_supported_fields(group_resource: str, expected: set[str]) -> None:
    assert supported_fields(group_resource) == expected


@pytest.mark.parametrize(
    ("group_resource", "label", "message"),
    [
        ("pods", "spec.foo", "field label not supported: spec.foo"),
        ("nodes", "metadata.namespace", "field label not supported: metadata.namespace"),
        ("events", "count", "field label not supported: count"),
        (
            "events.events.k8s.io",
            "involvedObject.kind",
            "field label not supported: involvedObject.kind",
        ),
        ("jobs.batch", "status.failed", 'field label "status.failed" not supported for Job'),
        (
            "replicasets.apps",
            "status.replicas",
            '"status.replicas" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"',
        ),
        (
            "ingresses.networking.k8s.io",
            "foo.bar",
            '"foo.bar" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
    ],
)
def test_unsupported_labels_are_rejected_with_the_servers_message(
    group_resource: str, label: str, message: str
) -> None:
    with pytest.raises(FieldLabelError) as info:
        field_labels(group_resource).convert(label, "x")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("group_resource", "label", "converted"),
    [
        ("pods", "spec.host", "spec.nodeName"),
        ("pods", "status.phase", "status.phase"),
        ("events.events.k8s.io", "regarding.name", "involvedObject.name"),
        ("events.events.k8s.io", "reportingController", "reportingComponent"),
        ("configmaps", "metadata.namespace", "metadata.namespace"),
    ],
)
def test_label_conversion(group_resource: str, label: str, converted: str) -> None:
    assert field_labels(group_resource).convert(label, "v") == (converted, "v")


POD: dict[str, Any] = {
    "metadata": {"name": "web-0", "namespace": "prod"},
    "spec": {
        "nodeName": "node-1",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "hostNetwork": True,
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.9",
        "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
        "nominatedNodeName": "node-2",
    },
}


def test_pod_field_set() -> None:
    assert field_set("pods", POD) == {
        "metadata.name": "web-0",
        "metadata.namespace": "prod",
        "spec.nodeName": "node-1",
        "spec.host": "node-1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "default",
        "spec.hostNetwork": "true",
        "status.phase": "Running",
        # podIP comes from podIPs[0] when present, as in the internal type.
        "status.podIP": "10.0.0.7",
        "status.nominatedNodeName": "node-2",
    }


def test_sparse_pod_uses_go_zero_values() -> None:
    fs = field_set("pods", {"metadata": {"name": "p"}, "status": {"podIP": "10.1.1.1"}})
    assert fs["spec.hostNetwork"] == "false"
    assert fs["spec.nodeName"] == ""
    assert fs["status.podIP"] == "10.1.1.1"
    assert fs["metadata.namespace"] == ""


@pytest.mark.parametrize(
    ("group_resource", "obj", "expected"),
    [
        ("nodes", {"spec": {"unschedulable": True}}, {"spec.unschedulable": "true"}),
        ("nodes", {}, {"spec.unschedulable": "false"}),
        ("namespaces", {"status": {"phase": "Terminating"}}, {"status.phase": "Terminating"}),
        ("secrets", {"type": "kubernetes.io/tls"}, {"type": "kubernetes.io/tls"}),
        (
            "services",
            {"spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP"}},
            {"spec.clusterIP": "10.96.0.1", "spec.type": "ClusterIP"},
        ),
        ("replicationcontrollers", {"status": {"replicas": 3}}, {"status.replicas": "3"}),
        ("replicationcontrollers", {}, {"status.replicas": "0"}),
        ("replicasets.apps", {"status": {"replicas": 2}}, {"status.replicas": "2"}),
        ("jobs.batch", {"status": {"succeeded": 1}}, {"status.successful": "1"}),
        ("jobs.batch", {"status": {}}, {"status.successful": "0"}),
        (
            "certificatesigningrequests.certificates.k8s.io",
            {"spec": {"signerName": "kubernetes.io/kubelet-serving"}},
            {"spec.signerName": "kubernetes.io/kubelet-serving"},
        ),
    ],
)
def test_kind_specific_field_sets(
    group_resource: str, obj: dict[str, Any], expected: dict[str, str]
) -> None:
    fs = field_set(group_resource, obj)
    assert {k: fs[k] for k in expected} == expected


def test_core_event_field_set() -> None:
    event = {
        "metadata": {"name": "web-0.17", "namespace": "prod"},
        "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "prod", "uid": "u1"},
        "reason": "Started",
        "type": "Normal",
        "reportingComponent": "kubelet",
    }
    fs = field_set("events", event)
    assert fs["involvedObject.kind"] == "Pod"
    assert fs["involvedObject.uid"] == "u1"
    assert fs["involvedObject.fieldPath"] == ""
    assert fs["reason"] == "Started"
    # No source.component: the reporting controller stands in.
    assert fs["source"] == "kubelet"
    event["source"] = {"component": "kubelet-legacy"}
    assert field_set("events", event)["source"] == "kubelet-legacy"


def test_events_k8s_io_field_set_has_both_spellings() -> None:
    event = {
        "metadata": {"name": "e", "namespace": "prod"},
        "regarding": {"kind": "Pod", "name": "web-0"},
        "reportingController": "example.com/ctrl",
        "reason": "Synced",
        "type": "Warning",
    }
    fs = field_set("events.events.k8s.io", event)
    assert fs["involvedObject.kind"] == fs["regarding.kind"] == "Pod"
    assert fs["reportingComponent"] == fs["reportingController"] == "example.com/ctrl"
    assert fs["source"] == "example.com/ctrl"


def test_default_field_set() -> None:
    assert "configmaps" not in KINDS_WITH_FIELDS
    assert {"pods", "events", "jobs.batch"} <= KINDS_WITH_FIELDS
    assert field_set("configmaps", {"metadata": {"name": "c", "namespace": "n"}}) == {
        "metadata.name": "c",
        "metadata.namespace": "n",
    }
    assert field_set("clusterroles.rbac.authorization.k8s.io", {"metadata": {"name": "r"}}) == {
        "metadata.name": "r",
        "metadata.namespace": "",
    }


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("status.phase=Running", True),
        ("status.phase!=Running", False),
        ("spec.host=node-1", True),
        ("spec.nodeName=node-2", False),
        ("metadata.namespace=prod,spec.hostNetwork=true", True),
        ("status.podIPs=", True),
        ("status.podIPs=10.0.0.7", False),
    ],
)
def test_selector_pipeline_like_the_list_handler(selector: str, expected: bool) -> None:
    converted = fields.parse(selector).transform(field_labels("pods").convert)
    assert converted.matches(field_set("pods", POD)) is expected
    # Matching without the transform gives the same answer thanks to the alias keys.
    assert fields.parse(selector).matches(field_set("pods", POD)) is expected


# --- custom resources -----------------------------------------------------------------------


def test_crd_field_labels() -> None:
    namespaced = crd_field_labels([".spec.color", ".status.ready"], namespaced=True)
    assert namespaced.supported == META | {"spec.color", "status.ready"}
    cluster = crd_field_labels([".spec.color"], namespaced=False)
    assert cluster.supported == {"metadata.name", "spec.color"}
    with pytest.raises(FieldLabelError) as info:
        cluster.convert("metadata.namespace", "x")
    assert str(info.value) == "field label not supported: metadata.namespace"


def test_crd_field_set() -> None:
    obj = {
        "metadata": {"name": "w", "namespace": "ns"},
        "spec": {"color": "red", "size": 3, "enabled": False, "labels": {"a.b": "x"}},
    }
    paths = [".spec.color", ".spec.size", ".spec.enabled", ".spec.missing", ".spec['labels']"]
    paths += [".spec.labels['a.b']", ".spec.color.deeper"]
    assert crd_field_set(obj, paths) == {
        "metadata.name": "w",
        "metadata.namespace": "ns",
        "spec.color": "red",
        "spec.size": "3",
        "spec.enabled": "false",
        "spec.missing": "",
        "spec['labels']": "map[a.b:x]",
        "spec.labels['a.b']": "x",
        "spec.color.deeper": "",
    }


@pytest.mark.parametrize("path", ["", ".", "spec", ".spec[0]", ".spec..x", ".spec['x"])
def test_crd_field_set_rejects_unsupported_paths(path: str) -> None:
    with pytest.raises(ValueError, match="unsupported selectable field JSONPath"):
        crd_field_set({}, [path])


@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
        st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none()),
        max_size=4,
    )
)
def test_crd_field_set_values_are_strings(spec: dict[str, object]) -> None:
    paths = [f".spec.{key}" for key in spec]
    fs = crd_field_set({"spec": spec}, paths)
    for key, value in spec.items():
        if value is None:
            expected = ""
        elif isinstance(value, bool):
            expected = "true" if value else "false"
        else:
            expected = str(value)
        assert fs[f"spec.{key}"] == expected
