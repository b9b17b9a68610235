"""Paths of the OpenAPI documents: actions, GVKs, operation ids and the parameters and
content types kubectl explain, client-side apply and ``--validate`` rely on."""

from __future__ import annotations

from typing import Any

from pilothouse.apiserver import openapi, resources

SMP = "application/strategic-merge-patch+json"
CRONTAB = "com.example.stable.v1.CronTab"


def _gvk(rt: resources.ResourceType, suffix: str = "") -> dict[str, str]:
    return {"group": rt.group, "kind": rt.kind + suffix, "version": rt.version}


def test_v2_paths_carry_actions_gvks_and_field_validation(v2: dict[str, Any]) -> None:
    paths = v2["paths"]
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert set(item) == {"get", "put", "patch", "delete", "parameters"}
    assert [p["name"] for p in item["parameters"]] == ["name", "namespace", "pretty"]
    patch = item["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    assert patch["operationId"] == "patchAppsV1NamespacedDeployment"
    assert SMP in patch["consumes"]
    assert patch["parameters"][0]["in"] == "body"
    collection = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert collection["get"]["x-kubernetes-action"] == "list"
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    assert collection["delete"]["operationId"] == "deleteAppsV1CollectionNamespacedDeployment"
    assert (
        paths["/apis/apps/v1/deployments"]["get"]["operationId"]
        == "listAppsV1DeploymentForAllNamespaces"
    )
    scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["put"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    assert (
        paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]["x-kubernetes-action"]
        == "post"
    )
    assert paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]["responses"]["200"][
        "schema"
    ] == {"type": "string"}
    assert set(paths["/apis/authentication.k8s.io/v1/tokenreviews"]) == {"post", "parameters"}
    for path, item in paths.items():
        for method in ("post", "put", "patch"):
            if method in item:
                names = {
                    p["name"] for p in item[method].get("parameters", []) if p["in"] == "query"
                }
                assert "fieldValidation" in names, (path, method)


def test_v3_explain_can_find_every_kind(types: Any) -> None:
    """Mirrors kubectl explain's template: a GVK-tagged operation on a resource path, then
    a components schema whose GVK list contains exactly that GVK."""
    for rt in types:
        doc_key = f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"
        doc = openapi.v3_document(types, doc_key)
        assert doc is not None
        prefix = "/" + doc_key
        candidates = [
            f"{prefix}/{rt.plural}",
            f"{prefix}/{rt.plural}/{{name}}",
            f"{prefix}/namespaces/{{namespace}}/{rt.plural}",
            f"{prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}",
        ]
        found = [
            op["x-kubernetes-group-version-kind"]
            for path in candidates
            for method, op in doc["paths"].get(path, {}).items()
            if method in ("get", "post", "put", "patch", "delete")
        ]
        assert found and found[0] == _gvk(rt), rt
        matches = [
            name
            for name, schema in doc["components"]["schemas"].items()
            if _gvk(rt) in schema.get("x-kubernetes-group-version-kind", [])
        ]
        assert matches, rt


def test_v3_supports_client_side_apply_and_field_validation(types: Any) -> None:
    doc = openapi.v3_document(types, "apis/apps/v1")
    assert doc is not None
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert SMP in patch["requestBody"]["content"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    strategy = doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"][
        "strategy"
    ]
    assert strategy["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}
    ]
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    core = openapi.v3_document(types, "api/v1")
    assert core is not None
    ios = core["components"]["schemas"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert ios["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert ios["format"] == "int-or-string"
    crd = openapi.v3_document(types, "apis/stable.example.com/v1")
    assert crd is not None
    crd_patch = crd["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"][
        "patch"
    ]
    assert SMP not in crd_patch["requestBody"]["content"]
    spec = crd["components"]["schemas"][CRONTAB]["properties"]["spec"]
    assert spec["properties"]["maybe"]["nullable"] is True  # v3 keeps the CRD schema as is
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in crd["components"]["schemas"]
