"""OpenAPI v2/v3 documents: what kubectl explain/apply/validation rely on, and the gnostic
protobuf encoding of v2 (checked with a minimal wire-format decoder)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import yaml

from pilothouse.apiserver import catalog, openapi, resources, schemas

SMP = "application/strategic-merge-patch+json"
CRONTAB = "com.example.stable.v1.CronTab"


def _crontab(description: str = "A cron tab.") -> resources.ResourceType:
    spec = {
        "type": "object",
        "required": ["cronSpec", "maybe"],
        "properties": {
            "cronSpec": {"type": "string"},
            "maybe": {"type": "string", "nullable": True},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "choice": {"type": "string", "oneOf": [{"pattern": "a"}, {"pattern": "b"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    root = {"type": "object", "description": description, "properties": {"spec": spec}}
    return resources.ResourceType(
        group="stable.example.com",
        version="v1",
        kind="CronTab",
        plural="crontabs",
        singular="crontab",
        namespaced=True,
        subresources=("scale", "status"),
        crd_version={
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": root},
        },
        storage_version="v1",
    )


@pytest.fixture(scope="module")
def types() -> tuple[resources.ResourceType, ...]:
    return (*catalog.builtin_types(), _crontab())


@pytest.fixture(scope="module")
def v2(types: Any) -> dict[str, Any]:
    return openapi.v2_document(types)


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


def _gvk(rt: resources.ResourceType, suffix: str = "") -> dict[str, str]:
    return {"group": rt.group, "kind": rt.kind + suffix, "version": rt.version}


# -- v2 ---------------------------------------------------------------------------------


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


def test_v2_serialized_json_and_etag(types: Any, v2: dict[str, Any]) -> None:
    body, etag = openapi.v2_serialized(types)
    assert orjson.loads(body) == v2
    assert etag == hashlib.sha512(body).hexdigest().upper()


# -- v3 ---------------------------------------------------------------------------------


def test_v3_index(types: Any) -> None:
    index = openapi.v3_index(types)
    paths = index["paths"]
    for key in (
        "api/v1",
        "apis/apps/v1",
        "apis/stable.example.com/v1",
        "apis/apps",
        "api",
        "apis",
        "version",
    ):
        assert key in paths
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    prefix, _, digest = url.partition("?hash=")
    assert prefix == "/openapi/v3/apis/apps/v1"
    serialized = openapi.v3_serialized(types, "apis/apps/v1")
    assert serialized is not None
    body, etag = serialized
    assert digest == etag == hashlib.sha512(body).hexdigest().upper()
    assert orjson.loads(body) == openapi.v3_document(types, "/apis/apps/v1/")
    assert orjson.loads(orjson.dumps(index)) == index


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


# -- caching ----------------------------------------------------------------------------


def test_documents_are_memoised_and_follow_crd_schema_changes() -> None:
    before = (*catalog.builtin_types(), _crontab("first"))
    after = (*catalog.builtin_types(), _crontab("second"))
    assert before == after  # ResourceType equality ignores the CRD schema...
    doc = openapi.v2_document(before)
    assert openapi.v2_document(before) is doc
    changed = openapi.v2_document(after)  # ...the cache does not
    assert changed["definitions"][CRONTAB]["description"] == "second"
    assert openapi.v2_document(before)["definitions"][CRONTAB]["description"] == "first"
    openapi.invalidate()
    assert openapi.v2_document(before) is not doc


@pytest.mark.parametrize(
    ("accept", "version", "expected"),
    [
        ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf", 2, openapi.V2_PROTOBUF),
        ("application/com.github.proto-openapi.spec.v2.v1.0+protobuf", 2, openapi.V2_PROTOBUF),
        ("application/json", 2, "application/json"),
        (None, 2, "application/json"),
        ("application/json, */*", 3, "application/json"),
        ("application/com.github.proto-openapi.spec.v3@v1.0+protobuf", 3, None),
        ("text/html", 2, None),
    ],
)
def test_negotiate_openapi(accept: str | None, version: int, expected: str | None) -> None:
    assert openapi.negotiate_openapi(accept, version) == expected


# -- protobuf ---------------------------------------------------------------------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if byte < 0x80:
            return value, i


def _decode(buf: bytes) -> dict[int, list[Any]]:
    """Fields of one message: varints as int, fixed64 as float, length-delimited as bytes."""
    fields: dict[int, list[Any]] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack_from("<d", buf, i)[0], i + 8
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        fields.setdefault(number, []).append(value)
    assert i == len(buf)
    return fields


def _named(entries: list[bytes]) -> dict[str, bytes]:
    """Repeated ``Named*{name = 1; value = 2}`` as a dict."""
    out = {}
    for entry in entries:
        fields = _decode(entry)
        out[fields[1][0].decode()] = fields.get(2, [b""])[0]
    return out


def _extensions(fields: dict[int, list[Any]], number: int) -> dict[str, Any]:
    return {
        name: yaml.safe_load(_decode(any_)[2][0])
        for name, any_ in _named(fields.get(number, [])).items()
    }


def test_v2_protobuf_decodes_to_the_json_document(types: Any, v2: dict[str, Any]) -> None:
    body, etag = openapi.v2_serialized(
        types, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    )
    assert etag == hashlib.sha512(body).hexdigest().upper()
    doc = _decode(body)
    assert doc[1] == [b"2.0"]
    info = _decode(doc[2][0])
    assert info[1] == [b"Kubernetes"] and info[2] == [b"v1.32.0"]
    definitions = _named(_decode(doc[9][0])[1])
    assert list(definitions) == list(v2["definitions"])
    deployment = _decode(definitions["io.k8s.api.apps.v1.Deployment"])
    assert _decode(deployment[22][0])[1] == [b"object"]  # TypeItem
    assert _extensions(deployment, 31)["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    spec_props = _named(
        _decode(_decode(definitions["io.k8s.api.apps.v1.DeploymentSpec"])[25][0])[1]
    )
    strategy = _decode(spec_props["strategy"])
    assert strategy[1] == [b"#/definitions/io.k8s.api.apps.v1.DeploymentStrategy"]
    assert _extensions(strategy, 31) == {"x-kubernetes-patch-strategy": "retainKeys"}
    paths = _named(_decode(doc[8][0])[2])
    assert list(paths) == list(v2["paths"])
    patch = _decode(_decode(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"])[8][0])
    assert _extensions(patch, 13)["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert SMP.encode() in patch[7]  # consumes
    query: list[bytes] = []
    for item in patch[8]:  # ParametersItem -> Parameter -> NonBodyParameter -> query
        parameter = _decode(_decode(item)[1][0])
        if 2 in parameter:
            query.extend(_decode(q)[4][0] for q in _decode(parameter[2][0]).get(3, []))
    assert b"fieldValidation" in query
    security = _named(_decode(doc[13][0])[1])
    assert _decode(_decode(security["BearerToken"])[2][0])[3] == [b"header"]  # ApiKeySecurity.in


def test_protobuf_scalars_and_oneofs() -> None:
    schema = {
        "type": ["integer"],
        "minimum": -1.5,
        "maxLength": 3,
        "additionalProperties": False,
        "items": {"type": "string"},
        "enum": [1, "two"],
        "required": ["a", ""],
        "x-kubernetes-int": -2,
    }
    doc = {"swagger": "2.0", "definitions": {"T": schema}}
    fields = _decode(_named(_decode(_decode(openapi.v2_protobuf(doc))[9][0])[1])["T"])
    assert fields[9] == [-1.5]  # minimum, fixed64
    assert fields[11] == [3]
    assert _decode(fields[21][0]) == {2: [0]}  # oneof bool false is still encoded
    assert _decode(_decode(fields[23][0])[1][0])[22] == [_encode_type_item("string")]
    assert [yaml.safe_load(_decode(e)[2][0]) for e in fields[20]] == [1, "two"]
    assert fields[19] == [b"a", b""]  # repeated strings keep empty entries
    assert _extensions(fields, 31) == {"x-kubernetes-int": -2}
    negative = _decode(openapi.v2_protobuf({"definitions": {"T": {"maxLength": -1}}}))
    raw = _decode(_named(_decode(negative[9][0])[1])["T"])[11][0]
    assert raw == 2**64 - 1  # int64 -1 is a ten-byte varint


def _encode_type_item(value: str) -> bytes:
    return bytes([0x0A, len(value)]) + value.encode()


def test_builtin_definitions_source_is_untouched() -> None:
    # Conversion must not mutate the shared kubernetes-validate definitions.
    raw = schemas.builtin_definitions()["io.k8s.api.apps.v1.Deployment"]
    assert raw["type"] == ["object", "null"]
    assert "enum" in raw["properties"]["apiVersion"]
