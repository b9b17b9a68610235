"""Kubernetes protobuf bodies decode to the JSON form of the object.

The bodies are built with a tiny encoder below, shaped the way client-go's gogo-protobuf code
writes them: every non-pointer field present (empty strings and zeros included), pointers only
when set, maps as repeated key/value entries. The expected dicts are what kubectl itself prints
for the same object with ``--dry-run=client -o json``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.apiserver.protobuf import ProtobufError, decode, is_protobuf, k8s

# A test-only protobuf encoder.


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def vint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def raw(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def text(number: int, value: str) -> bytes:
    return raw(number, value.encode())


def msg(number: int, *parts: bytes) -> bytes:
    return raw(number, b"".join(parts))


def entry(number: int, key: str, value: bytes) -> bytes:
    """One map entry; ``value`` is the already-encoded field 2."""
    return msg(number, text(1, key), value)


def envelope(api_version: str, kind: str, body: bytes, *extra: bytes) -> bytes:
    type_meta = msg(1, text(1, api_version), text(2, kind))
    return b"k8s\x00" + type_meta + raw(2, body) + text(3, "") + text(4, "") + b"".join(extra)


def object_meta(name: str, *extra: bytes, namespace: str = "") -> bytes:
    """ObjectMeta as gogo writes it: all non-pointer fields, an empty creationTimestamp."""
    return msg(
        1,
        text(1, name),
        text(2, ""),
        text(3, namespace),
        text(4, ""),
        text(5, ""),
        text(6, ""),
        vint(7, 0),
        raw(8, b""),
        *extra,
    )


def quantity(number: int, value: str) -> bytes:
    return msg(number, text(1, value))


def int_or_string(number: int, value: int | str) -> bytes:
    if isinstance(value, int):
        return msg(number, vint(1, 0), vint(2, value), text(3, ""))
    return msg(number, vint(1, 1), vint(2, 0), text(3, value))


# Whole objects.


def test_namespace() -> None:
    body = object_meta("foo") + msg(2) + msg(3, text(1, ""))
    assert decode(envelope("v1", "Namespace", body)) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "foo", "creationTimestamp": None},
        "spec": {},
        "status": {},
    }


def test_configmap_data_map() -> None:
    body = (
        object_meta("cm1", namespace="default")
        + entry(2, "a", text(2, "b"))
        + entry(2, "empty", text(2, ""))
        + entry(3, "bin", raw(2, b"\x00\xff"))
    )
    assert decode(envelope("v1", "ConfigMap", body)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm1", "namespace": "default", "creationTimestamp": None},
        "data": {"a": "b", "empty": ""},
        "binaryData": {"bin": base64.b64encode(b"\x00\xff").decode()},
    }


def test_secret_bytes_map_becomes_base64() -> None:
    body = (
        object_meta("s1")
        + entry(2, "password", raw(2, b"s3cr\x00t"))
        + entry(2, "empty", raw(2, b""))
        + entry(2, "absent", b"")  # no value at all: Go stores an empty []byte
        + text(3, "Opaque")
        + vint(5, 0)  # immutable is a *bool: an explicit false stays
    )
    assert decode(envelope("v1", "Secret", body)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "creationTimestamp": None},
        "data": {"password": base64.b64encode(b"s3cr\x00t").decode(), "empty": "", "absent": ""},
        "type": "Opaque",
        "immutable": False,
    }


def container(name: str, image: str) -> bytes:
    port = msg(6, text(1, ""), vint(2, 0), vint(3, 80), text(4, "TCP"), text(5, ""))
    resources = msg(
        8,
        entry(1, "cpu", quantity(2, "500m")),
        entry(1, "memory", quantity(2, "128Mi")),
        entry(2, "cpu", quantity(2, "250m")),
    )
    return msg(
        2,
        text(1, name),
        text(2, image),
        text(3, "sleep"),
        text(3, "10"),
        text(5, ""),
        port,
        resources,
        text(13, ""),
        text(14, ""),
        vint(16, 0),
        vint(17, 0),
        vint(18, 0),
        text(20, ""),
    )


def test_deployment_with_pod_template() -> None:
    labels = entry(11, "app", text(2, "web"))
    template = msg(3, object_meta("", labels), msg(2, container("web", "nginx"), text(3, "")))
    strategy = msg(
        4,
        text(1, "RollingUpdate"),
        msg(2, int_or_string(1, 0), int_or_string(2, "25%")),
    )
    spec = msg(
        2,
        vint(1, 0),  # replicas is a *int32: an explicit 0 is kept
        msg(2, entry(1, "app", text(2, "web"))),
        template,
        strategy,
        vint(5, 0),  # minReadySeconds: non-pointer, omitempty
        vint(7, 0),  # paused: non-pointer, omitempty
    )
    status = msg(3, vint(1, 0), vint(2, 0), vint(3, 0), vint(4, 0), vint(5, 0), vint(7, 0))
    body = object_meta("web", labels) + spec + status
    assert decode(envelope("apps/v1", "Deployment", body)) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "creationTimestamp": None, "labels": {"app": "web"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx",
                            "command": ["sleep", "10"],
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "resources": {
                                "limits": {"cpu": "500m", "memory": "128Mi"},
                                "requests": {"cpu": "250m"},
                            },
                        }
                    ]
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            },
        },
        "status": {},
    }


def test_eviction_with_delete_options() -> None:
    delete_options = msg(2, vint(1, 0), msg(2, text(1, "uid-1")), text(4, "Foreground"))
    body = object_meta("p1", namespace="default") + delete_options
    assert decode(envelope("policy/v1", "Eviction", body)) == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "p1", "namespace": "default", "creationTimestamp": None},
        "deleteOptions": {
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "uid-1"},
            "propagationPolicy": "Foreground",
        },
    }


def test_delete_options_registered_in_every_group_version() -> None:
    body = vint(1, 30) + text(5, "All")
    for api_version in ("v1", "apps/v1", "meta.k8s.io/v1"):
        assert decode(envelope(api_version, "DeleteOptions", body)) == {
            "apiVersion": api_version,
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 30,
            "dryRun": ["All"],
        }


def test_job() -> None:
    pod_spec = msg(2, container("j1", "busybox"), text(3, "Never"))
    spec = msg(2, vint(7, 4), msg(6, object_meta(""), pod_spec), vint(10, 0))
    status = msg(3, vint(4, 0), vint(5, 0), vint(6, 0), text(7, ""))
    result = decode(envelope("batch/v1", "Job", object_meta("j1") + spec + status))
    assert result["spec"]["backoffLimit"] == 4
    assert result["spec"]["suspend"] is False  # *bool
    assert result["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert result["status"] == {}


def test_service_ports_with_int_or_string_target_port() -> None:
    ports = msg(1, text(1, "http"), text(2, "TCP"), vint(3, 80), int_or_string(4, 8080), vint(5, 0))
    named = msg(1, text(1, "web"), text(2, "TCP"), vint(3, 81), int_or_string(4, "web"))
    spec = msg(2, ports, named, entry(2, "app", text(2, "web")), text(3, ""), text(4, "ClusterIP"))
    result = decode(envelope("v1", "Service", object_meta("svc") + spec + msg(3, msg(1))))
    assert result["spec"] == {
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
            {"name": "web", "protocol": "TCP", "port": 81, "targetPort": "web"},
        ],
        "selector": {"app": "web"},
        "type": "ClusterIP",
    }
    assert result["status"] == {"loadBalancer": {}}


def test_time_fields() -> None:
    # 2024-01-02T03:04:05Z; metav1.Time keeps whole seconds, as Go's unmarshalling does.
    stamp = msg(8, vint(1, 1704164645), vint(2, 999))
    meta = msg(1, text(1, "t"), stamp, msg(9, vint(1, 0)))
    result = decode(envelope("v1", "ConfigMap", meta))
    assert result["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert result["metadata"]["deletionTimestamp"] == "1970-01-01T00:00:00Z"


def test_micro_time() -> None:
    spec = msg(2, text(1, "me"), msg(3, vint(1, 1704164645), vint(2, 123456789)))
    result = decode(envelope("coordination.k8s.io/v1", "Lease", object_meta("l") + spec))
    assert result["spec"] == {"holderIdentity": "me", "acquireTime": "2024-01-02T03:04:05.123456Z"}


def test_time_out_of_range_is_an_error() -> None:
    meta = msg(1, msg(8, vint(1, 2**62)))
    with pytest.raises(ProtobufError, match="out of range"):
        decode(envelope("v1", "ConfigMap", meta))


@pytest.mark.parametrize(
    ("nanos", "expected"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (1_500_000, "1.5ms"),
        (1_500_000_000, "1.5s"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (-(3723 * 10**9 + 5), "-1h2m3.000000005s"),
    ],
)
def test_go_duration_strings(nanos: int, expected: str) -> None:
    assert k8s._go_duration(nanos) == expected


def test_embedded_structs_are_flattened() -> None:
    env = msg(
        7,
        text(1, "PASSWORD"),
        msg(3, msg(4, msg(1, text(1, "db-secret")), text(2, "pw"), vint(3, 1))),
    )
    volume = msg(1, text(1, "data"), msg(2, msg(6, text(1, "db-secret"), vint(3, 420))))
    probe = msg(10, msg(1, msg(2, text(1, "/healthz"), int_or_string(2, 8080))), vint(2, 5))
    pod_spec = msg(2, volume, msg(2, text(1, "c"), env, probe))
    result = decode(envelope("v1", "Pod", object_meta("p") + pod_spec))
    assert result["spec"]["volumes"] == [
        {"name": "data", "secret": {"secretName": "db-secret", "defaultMode": 420}}
    ]
    c = result["spec"]["containers"][0]
    assert c["env"] == [
        {
            "name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db-secret", "key": "pw", "optional": True}},
        }
    ]
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": 8080},
        "initialDelaySeconds": 5,
    }


def test_json_names_that_differ_from_proto_names() -> None:
    spec = msg(2, msg(3, text(1, "pod"), text(4, "uid-9")))  # boundObjectRef.uID -> uid
    result = decode(envelope("authentication.k8s.io/v1", "TokenRequest", object_meta("t") + spec))
    assert result["spec"] == {"boundObjectRef": {"kind": "pod", "uid": "uid-9"}}


def test_packed_and_unpacked_repeated_scalars() -> None:
    packed = raw(4, varint(1) + varint(2))
    unpacked = vint(4, 3)
    pod = msg(2, msg(14, packed, unpacked))
    result = decode(envelope("v1", "Pod", object_meta("p") + pod))
    assert result["spec"]["securityContext"] == {"supplementalGroups": [1, 2, 3]}


def test_negative_numbers() -> None:
    # int64 -1 is a ten-byte varint; int32 fields keep the low 32 bits as Go does.
    pod = msg(2, vint(4, -1), msg(14, vint(2, -5)))
    result = decode(envelope("v1", "Pod", object_meta("p") + pod))
    assert result["spec"]["terminationGracePeriodSeconds"] == -1
    assert result["spec"]["securityContext"]["runAsUser"] == -5


def test_managed_fields_carry_json() -> None:
    fields_v1 = msg(7, raw(1, b'{"f:data":{"f:a":{}}}'))
    managed = msg(
        17, text(1, "kubectl"), text(2, "Update"), text(3, "v1"), text(6, "FieldsV1"), fields_v1
    )
    result = decode(envelope("v1", "ConfigMap", msg(1, text(1, "x"), managed)))
    assert result["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Update",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}},
        }
    ]


def test_raw_extension_holds_json_or_a_nested_object() -> None:
    inner = envelope("v1", "ConfigMap", object_meta("nested"))
    for data, expected in (
        (b'{"kind":"Thing","x":[1,2]}', {"kind": "Thing", "x": [1, 2]}),
        (
            inner,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "nested", "creationTimestamp": None},
            },
        ),
    ):
        body = object_meta("rev") + msg(2, raw(1, data)) + vint(3, 2)
        result = decode(envelope("apps/v1", "ControllerRevision", body))
        assert result["data"] == expected
        assert result["revision"] == 2


def test_raw_extension_with_invalid_json_is_an_error() -> None:
    body = object_meta("rev") + msg(2, raw(1, b"{nope"))
    with pytest.raises(ProtobufError, match="not valid JSON"):
        decode(envelope("apps/v1", "ControllerRevision", body))


def test_repeated_messages_merge_and_scalars_last_wins() -> None:
    body = msg(1, text(1, "first")) + msg(1, text(1, "second"), entry(11, "k", text(2, "v")))
    body += text(3, "Opaque") + text(3, "")  # an omitted zero still replaces the earlier value
    result = decode(envelope("v1", "Secret", body))
    assert result["metadata"] == {"name": "second", "labels": {"k": "v"}}
    assert "type" not in result


def test_unknown_fields_are_skipped() -> None:
    extra = vint(99, 5) + raw(100, b"whatever") + varint(101 << 3 | 5) + b"\x00" * 4
    body = object_meta("foo", extra) + extra
    result = decode(envelope("v1", "Namespace", body, vint(9, 1)))
    assert result == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "foo", "creationTimestamp": None},
    }


def test_invalid_utf8_is_replaced_like_go_json() -> None:
    result = decode(envelope("v1", "Namespace", msg(1, raw(1, b"a\xffb"))))
    assert result["metadata"]["name"] == "a\ufffdb"


def test_missing_map_values_take_go_zero_values() -> None:
    body = msg(2, entry(1, "cpu", b""))  # a hard limit with no Quantity
    result = decode(envelope("v1", "ResourceQuota", object_meta("q") + body))
    assert result["spec"] == {"hard": {"cpu": "0"}}


# Errors.


def test_bad_magic() -> None:
    with pytest.raises(ProtobufError, match="magic"):
        decode(b'{"kind":"Namespace"}')


def test_unknown_kind() -> None:
    with pytest.raises(ProtobufError, match='no kind "Widget" is registered for version "v1"'):
        decode(envelope("v1", "Widget", b""))
    with pytest.raises(ProtobufError, match='no kind "Deployment" is registered for version "v1"'):
        decode(envelope("v1", "Deployment", b""))


def test_missing_kind() -> None:
    with pytest.raises(ProtobufError, match="Kind"):
        decode(b"k8s\x00" + msg(1, text(1, "v1")))


def test_content_encoding_is_refused() -> None:
    body = b"k8s\x00" + msg(1, text(1, "v1"), text(2, "Namespace")) + text(3, "gzip")
    with pytest.raises(ProtobufError, match="content encoding"):
        decode(body)


def test_truncated_body() -> None:
    # Protobuf has no terminator, so only cuts inside a length-delimited field are detectable:
    # cut anywhere inside the object's bytes.
    head = b"k8s\x00" + msg(1, text(1, "v1"), text(2, "Namespace"))
    whole = head + raw(2, object_meta("foo"))
    for cut in range(len(head) + 1, len(whole)):
        with pytest.raises(ProtobufError):
            decode(whole[:cut])


def test_wrong_wire_type_for_a_known_field() -> None:
    with pytest.raises(ProtobufError, match="wrong wire type"):
        decode(envelope("v1", "Namespace", msg(1, vint(1, 5))))
    with pytest.raises(ProtobufError, match="wrong wire type"):
        decode(envelope("v1", "Namespace", msg(1, raw(7, b"\x01"))))


def test_impossible_int_or_string_type() -> None:
    spec = msg(2, msg(1, text(1, "p"), vint(3, 80), msg(4, vint(1, 7))))
    with pytest.raises(ProtobufError, match="IntOrString"):
        decode(envelope("v1", "Service", object_meta("s") + spec))


def test_nesting_is_bounded() -> None:
    body = envelope("v1", "ConfigMap", object_meta("leaf"))
    for _ in range(k8s.MAX_DEPTH):
        body = envelope("apps/v1", "ControllerRevision", msg(2, raw(1, body)))
    with pytest.raises(ProtobufError, match="nested more than"):
        decode(body)


def test_deep_embedded_json_is_refused() -> None:
    deep = b"[" * (k8s.MAX_DEPTH + 1) + b"]" * (k8s.MAX_DEPTH + 1)
    body = object_meta("rev") + msg(2, raw(1, deep))
    with pytest.raises(ProtobufError, match="nested more than"):
        decode(envelope("apps/v1", "ControllerRevision", body))


def test_oversized_body() -> None:
    with pytest.raises(ProtobufError, match="larger than"):
        decode(b"k8s\x00" + b"\x00" * k8s.MAX_BODY)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/vnd.kubernetes.protobuf", True),
        ("Application/VND.Kubernetes.Protobuf; charset=utf-8", True),
        ("application/vnd.kubernetes.protobuf;stream=watch", True),
        ("application/json", False),
        ("application/vnd.kubernetes.protobuf+json", False),
        ("", False),
    ],
)
def test_is_protobuf(content_type: str, expected: bool) -> None:
    assert is_protobuf(content_type) is expected


def test_table_is_consistent() -> None:
    table = k8s.schema()
    for name, fields in table.messages.items():
        for spec in fields.values():
            assert spec.type in table.messages or spec.type in k8s._PACKABLE | {
                "string",
                "bytes",
            }, (
                name,
                spec,
            )
            assert spec.label in ("optional", "omitempty", "repeated", "map", "inline")
    assert all(message in table.messages for message in table.kinds.values())
    assert table.kinds["policy/v1/Eviction"] == "k8s.io.api.policy.v1.Eviction"


# Robustness: anything at all decodes or fails with ProtobufError.


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bodies_only_raise_protobuf_error(data: bytes) -> None:
    with contextlib.suppress(ProtobufError):
        decode(b"k8s\x00" + data)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(
        [
            ("v1", "Pod"),
            ("apps/v1", "Deployment"),
            ("v1", "Service"),
            ("apps/v1", "ControllerRevision"),
            ("coordination.k8s.io/v1", "Lease"),
        ]
    ),
    st.binary(max_size=300),
)
def test_random_objects_only_raise_protobuf_error(kind: tuple[str, str], data: bytes) -> None:
    try:
        result = decode(envelope(*kind, data))
    except ProtobufError:
        return
    json.dumps(result)  # whatever decodes is plain JSON data


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(0, 2**64 - 1))
def test_structured_fuzz_of_known_fields(payload: bytes, number: int) -> None:
    fields = raw(1, payload) + vint(7, number) + raw(2, payload) + struct.pack("<B", number & 0xFF)
    with contextlib.suppress(ProtobufError):
        decode(envelope("v1", "Pod", msg(1, fields) + msg(2, fields)))
