"""Definitions of the OpenAPI documents: every served kind with its GVK, proper v2 schemas
(single types, no oneOf/nullable, arrays with items, refs that resolve), CRD kinds as the CRD
builder publishes them, and v3 documents that carry every schema they reference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pilothouse.apiserver import openapi, schemas

SMP = "application/strategic-merge-patch+json"
CRONTAB = "com.example.stable.v1.CronTab"


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object in a schema tree (property names are not keywords)."""
    if not isinstance(node, dict):
        return
    yield node
    for key, value in node.items():
        if key == "properties":
            for prop in value.values():
                yield from _schemas(prop)
        elif key in ("items", "additionalProperties", "not"):
            yield from _schemas(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            for alt in value:
                yield from _schemas(alt)


def test_v2_every_served_kind_has_a_definition_with_its_gvk(types: Any, v2: dict[str, Any]) -> None:
    assert v2["swagger"] == "2.0" and v2["info"]["version"] == "v1.32.0"
    by_gvk = {
        (g["group"], g["version"], g["kind"]): name
        for name, d in v2["definitions"].items()
        for g in d.get("x-kubernetes-group-version-kind", [])
    }
    for rt in types:
        assert (rt.group, rt.version, rt.kind) in by_gvk, rt
        if rt.persisted:
            assert (rt.group, rt.version, rt.kind + "List") in by_gvk, rt
    assert by_gvk[("apps", "v1", "Deployment")] == "io.k8s.api.apps.v1.Deployment"
    assert by_gvk[("stable.example.com", "v1", "CronTab")] == CRONTAB


def test_v2_schemas_are_proper_openapi_v2(v2: dict[str, Any]) -> None:
    definitions = v2["definitions"]
    for name, definition in definitions.items():
        for schema in _schemas(definition):
            assert not isinstance(schema.get("type"), list), name
            assert "oneOf" not in schema and "nullable" not in schema, name
            if schema.get("type") == "array":
                assert "items" in schema, name  # kube-openapi rejects item-less arrays
            ref = schema.get("$ref")
            if ref is not None:
                assert (
                    ref.startswith("#/definitions/") and ref[len("#/definitions/") :] in definitions
                )
    ios = definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert (ios["type"], ios["format"]) == ("string", "int-or-string")
    assert definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    assert "enum" not in deployment["properties"]["apiVersion"]
    containers = definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}


def test_v2_crd_definitions(v2: dict[str, Any]) -> None:
    paths = v2["paths"]
    patch = paths["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert SMP not in patch["consumes"] and "application/merge-patch+json" in patch["consumes"]
    crontab = v2["definitions"][CRONTAB]
    assert crontab["description"] == "A cron tab."
    assert crontab["properties"]["metadata"]["$ref"] == (
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    )
    assert crontab["properties"]["apiVersion"]["type"] == "string"
    spec = crontab["properties"]["spec"]
    assert "type" not in spec["properties"]["maybe"]  # nullable: untyped in v2
    assert spec["required"] == ["cronSpec"]  # nullable fields are not required in v2
    assert "properties" not in spec["properties"]["extra"]
    assert "oneOf" not in spec["properties"]["choice"]
    listing = v2["definitions"][CRONTAB + "List"]
    assert listing["properties"]["items"]["items"] == {"$ref": f"#/definitions/{CRONTAB}"}
    assert listing["required"] == ["items"]


def test_v3_documents_are_self_contained(types: Any) -> None:
    for key in openapi.v3_index(types)["paths"]:
        doc = openapi.v3_document(types, key)
        assert doc is not None and doc["openapi"].startswith("3.0")
        components = doc["components"]["schemas"]
        for _, value in _walk(doc):
            if isinstance(value, dict) and isinstance(value.get("$ref"), str):
                name = value["$ref"].removeprefix("#/components/schemas/")
                assert name in components, (key, name)
        for schema in (s for d in components.values() for s in _schemas(d)):
            assert not isinstance(schema.get("type"), list), key
            if "$ref" in schema:  # siblings go next to an allOf wrapper, as kube-openapi does
                assert list(schema) == ["$ref"], key
    assert openapi.v3_document(types, "apis/nope/v1") is None


def test_builtin_definitions_source_is_untouched() -> None:
    # Conversion must not mutate the shared kubernetes-validate definitions.
    raw = schemas.builtin_definitions()["io.k8s.api.apps.v1.Deployment"]
    assert raw["type"] == ["object", "null"]
    assert "enum" in raw["properties"]["apiVersion"]
