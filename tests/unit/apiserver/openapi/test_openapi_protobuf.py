"""The gnostic protobuf encoding of ``/openapi/v2``, checked with a minimal wire-format
decoder against the JSON document."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import yaml

from pilothouse.apiserver import openapi

SMP = "application/strategic-merge-patch+json"


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
