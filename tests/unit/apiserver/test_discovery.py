"""Discovery documents: shapes kube-apiserver 1.32 serves and client-go 1.32 decodes."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from pilothouse.apiserver import catalog, discovery, resources

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
#: What client-go 1.32's discovery client sends to /api and /apis.
CLIENT_GO_ACCEPT = f"{AGGREGATED_V2},{AGGREGATED_V2BETA1},application/json"


def _crd(
    group: str, version: str, kind: str = "Widget", plural: str = "widgets"
) -> resources.ResourceType:
    schema = {"openAPIV3Schema": {"type": "object"}}
    return resources.ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=True,
        short_names=("wd",),
        categories=("all",),
        subresources=("scale", "status"),
        crd_version={"name": version, "served": True, "storage": True, "schema": schema},
        storage_version="v1",
    )


@pytest.fixture(scope="module")
def types() -> tuple[resources.ResourceType, ...]:
    return (
        *catalog.builtin_types(),
        _crd("zeta.example.com", "v1"),
        _crd("alpha.example.com", "v1beta1"),
        _crd("alpha.example.com", "v1"),
        _crd("alpha.example.com", "v2alpha1"),
    )


def _by_name(resource_list: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in resource_list["resources"]}


def test_version_info_looks_like_a_release() -> None:
    info = discovery.version_info()
    assert info["major"] == "1" and info["minor"] == "32"
    assert info["gitVersion"] == "v1.32.0"
    assert len(info["gitCommit"]) == 40 and info["gitTreeState"] == "clean"
    assert info["compiler"] == "gc" and info["goVersion"].startswith("go1.")
    os_name, _, arch = info["platform"].partition("/")
    assert os_name and arch and "x86_64" not in arch


def test_api_versions() -> None:
    doc = discovery.api_versions("10.0.0.1:6443")
    assert doc == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}
        ],
    }


def test_group_order_builtins_in_catalog_order_then_crds_sorted(types: Any) -> None:
    names = [g["name"] for g in discovery.api_group_list(types)["groups"]]
    builtin = list(dict.fromkeys(rt.group for rt in catalog.builtin_types() if rt.group))
    assert names == [*builtin, "alpha.example.com", "zeta.example.com"]
    assert names[:3] == ["apps", "batch", "autoscaling"]


def test_versions_in_kube_aware_priority(types: Any) -> None:
    group = discovery.api_group(types, "alpha.example.com")
    assert group is not None
    assert [v["version"] for v in group["versions"]] == ["v1", "v1beta1", "v2alpha1"]
    assert group["preferredVersion"] == {"groupVersion": "alpha.example.com/v1", "version": "v1"}
    assert group["kind"] == "APIGroup" and group["apiVersion"] == "v1"
    ordered = sorted(
        ["v1alpha1", "foo", "v2", "v1beta2", "v1", "v1beta1", "v10"], key=discovery.version_priority
    )
    assert ordered == ["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]


def test_unknown_group_and_version(types: Any) -> None:
    assert discovery.api_group(types, "nope.example.com") is None
    assert discovery.api_group(types, "") is None
    assert discovery.api_resource_list(types, "apps", "v1beta1") is None


def test_core_resource_list(types: Any) -> None:
    doc = discovery.api_resource_list(types, "", "v1")
    assert doc is not None
    assert doc["kind"] == "APIResourceList" and "apiVersion" not in doc
    assert doc["groupVersion"] == "v1"
    names = [r["name"] for r in doc["resources"]]
    assert names == sorted(names)
    res = _by_name(doc)
    pods = res["pods"]
    assert pods["singularName"] == "pod" and pods["namespaced"] is True and pods["kind"] == "Pod"
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    assert res["pods/status"] == {
        "name": "pods/status",
        "singularName": "",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get", "patch", "update"],
    }
    eviction = res["pods/eviction"]
    assert (eviction["group"], eviction["version"], eviction["kind"]) == (
        "policy",
        "v1",
        "Eviction",
    )
    assert eviction["verbs"] == ["create"]
    assert res["pods/binding"]["kind"] == "Binding" and "group" not in res["pods/binding"]
    assert res["pods/log"]["verbs"] == ["get"]
    assert res["namespaces/finalize"]["verbs"] == ["update"]
    assert res["namespaces/finalize"]["namespaced"] is False
    token = res["serviceaccounts/token"]
    assert (token["group"], token["kind"]) == ("authentication.k8s.io", "TokenRequest")
    # The real algorithm, so values match a real cluster's.
    assert res["configmaps"]["storageVersionHash"] == "qFsyl6wFWjQ="
    assert "storageVersionHash" not in res["bindings"]  # create-only, never stored


def test_group_resource_list_with_scale(types: Any) -> None:
    doc = discovery.api_resource_list(types, "apps", "v1")
    assert doc is not None and doc["apiVersion"] == "v1" and doc["groupVersion"] == "apps/v1"
    scale = _by_name(doc)["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert scale["verbs"] == ["get", "patch", "update"]
    assert _by_name(doc)["deployments/status"]["kind"] == "Deployment"


def test_crd_resource_list_hashes_storage_version(types: Any) -> None:
    doc = discovery.api_resource_list(types, "alpha.example.com", "v1beta1")
    assert doc is not None
    widgets = _by_name(doc)["widgets"]
    assert widgets["storageVersionHash"] == discovery.storage_version_hash(
        "alpha.example.com", "v1", "Widget"
    )
    assert _by_name(doc)["widgets/scale"]["kind"] == "Scale"


def test_aggregated_core(types: Any) -> None:
    doc = discovery.aggregated_core(types)
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    [core] = doc["items"]
    assert "name" not in core["metadata"]
    [v1] = core["versions"]
    assert v1["version"] == "v1" and v1["freshness"] == "Current"
    names = [r["resource"] for r in v1["resources"]]
    assert names == sorted(names)
    pods = next(r for r in v1["resources"] if r["resource"] == "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced" and pods["singularResource"] == "pod"
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["eviction"]["responseKind"] == {
        "group": "policy",
        "version": "v1",
        "kind": "Eviction",
    }
    assert subs["status"]["verbs"] == ["get", "patch", "update"]
    nodes = next(r for r in v1["resources"] if r["resource"] == "nodes")
    assert nodes["scope"] == "Cluster"
    assert (
        discovery.aggregated_core(types, "v2beta1")["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    )


def test_aggregated_groups(types: Any) -> None:
    doc = discovery.aggregated_groups(types)
    names = [g["metadata"]["name"] for g in doc["items"]]
    assert "" not in names and names[0] == "apps"
    assert names[-2:] == ["alpha.example.com", "zeta.example.com"]
    alpha = doc["items"][-2]
    assert [v["version"] for v in alpha["versions"]] == ["v1", "v1beta1", "v2alpha1"]
    widgets = alpha["versions"][0]["resources"][0]
    assert widgets["shortNames"] == ["wd"] and widgets["categories"] == ["all"]
    scale = next(s for s in widgets["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    reviews = next(g for g in doc["items"] if g["metadata"]["name"] == "authentication.k8s.io")
    token_reviews = next(
        r for r in reviews["versions"][0]["resources"] if r["resource"] == "tokenreviews"
    )
    assert token_reviews["verbs"] == ["create"] and "subresources" not in token_reviews


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (CLIENT_GO_ACCEPT, "aggregated-v2"),
        (f"{AGGREGATED_V2BETA1},application/json", "aggregated-v2beta1"),
        (
            "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io",
            "aggregated-v2",
        ),
        ("application/json", "legacy"),
        ("application/json, */*", "legacy"),
        ("*/*", "legacy"),
        ("", "legacy"),
        (None, "legacy"),
        (f"{AGGREGATED_V2};q=0.5,application/json", "legacy"),
        (f"application/json;q=0.1,{AGGREGATED_V2}", "aggregated-v2"),
        (f"{AGGREGATED_V2};q=0,application/json", "legacy"),
        (
            "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            "legacy",
        ),
        ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList", "legacy"),
        ("application/json;g=meta.k8s.io;v=v1;as=Table,application/json", "legacy"),
    ],
)
def test_negotiate_discovery(accept: str | None, expected: str) -> None:
    fmt, content_type = discovery.negotiate_discovery(accept)
    assert fmt == expected
    assert content_type == discovery.discovery_content_type(fmt)


def test_aggregated_content_type_echoes_gvk_parameters() -> None:
    assert discovery.discovery_content_type("aggregated-v2") == AGGREGATED_V2
    assert discovery.discovery_content_type("aggregated-v2beta1") == AGGREGATED_V2BETA1
    assert discovery.discovery_content_type("legacy") == "application/json"
    assert discovery.aggregated_version("aggregated-v2beta1") == "v2beta1"


def test_etag_is_quoted_uppercase_sha512() -> None:
    body = b'{"kind":"APIGroupDiscoveryList"}'
    assert discovery.discovery_etag(body) == f'"{hashlib.sha512(body).hexdigest().upper()}"'


def test_documents_serialise_with_orjson(types: Any) -> None:
    docs = [
        discovery.version_info(),
        discovery.api_versions(),
        discovery.api_group_list(types),
        discovery.api_group(types, "apps"),
        discovery.aggregated_core(types),
        discovery.aggregated_groups(types, "v2beta1"),
        *(
            discovery.api_resource_list(types, g, v)
            for g, vs in discovery.group_versions(types)
            for v in vs
        ),
    ]
    for doc in docs:
        assert doc is not None
        assert orjson.loads(orjson.dumps(doc)) == doc
