"""Kubernetes protobuf bodies -> the JSON-shaped dict the JSON form of the request would give.

A body is the 4-byte magic ``k8s\\x00`` followed by a ``runtime.Unknown`` message: its
``typeMeta`` names apiVersion and kind, its ``raw`` holds the object's own message. The message
layouts come from ``k8s_proto_v1_32.json`` (field number -> JSON name, type, label), generated
from the Kubernetes v1.32 ``generated.proto`` files by ``scripts/gen_k8s_proto_table.py``.

The aim is the JSON kube-apiserver would see after decoding the protobuf into its Go structs and
re-encoding them:

* what was on the wire appears, except that gogo-protobuf writes every non-pointer Go field while
  Go's JSON encoder drops the zero ones tagged ``omitempty``: fields labelled ``omitempty`` in the
  table (non-pointer, not required) lose a zero value (``generateName: ""``, ``hostPort: 0``), all
  others keep it (``replicas: 0`` in a pointer). Messages stay structs, so an empty ``spec`` is
  ``{}`` and an empty ``metadata.creationTimestamp`` is ``null``, exactly as in kubectl's own
  JSON; repeated and map fields with no entries are absent;
* well-known wrappers take their JSON shape: ``Time`` becomes RFC 3339 in seconds (Go drops the
  nanoseconds when unmarshalling), ``MicroTime`` RFC 3339 with microseconds, ``Duration`` a Go
  duration string, ``Quantity`` its string, ``IntOrString`` an int or a string, ``RawExtension``
  and ``FieldsV1`` the JSON they carry, ``bytes`` base64 text;
* embedded Go structs (``LocalObjectReference`` in ``SecretKeySelector``, ``VolumeSource`` in
  ``Volume``...) are flattened into their parent, as ``json:",inline"`` does;
* unknown field numbers are skipped like Go does, a known field with the wrong wire type is an
  error, and a repeated or nested message field seen twice is merged (protobuf semantics).

Anything malformed raises :class:`~pilothouse.apiserver.protobuf.wire.ProtobufError`, including
an unregistered kind ("no kind "X" is registered for version "Y"", kube-apiserver's wording).
Nesting is bounded by :data:`MAX_DEPTH` (the JSON decoder's limit), the JSON carried inside
``RawExtension``/``FieldsV1`` included, so no later recursive pass can be driven too deep.
"""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import orjson

from pilothouse.apiserver.protobuf import wire
from pilothouse.apiserver.protobuf.wire import ProtobufError

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
MAX_BODY = 3 * 1024 * 1024
MAX_DEPTH = 100
TABLE = "k8s_proto_v1_32.json"

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_TIME = _META + "Time"
_MICRO_TIME = _META + "MicroTime"
_DURATION = _META + "Duration"
_FIELDS_V1 = _META + "FieldsV1"
_VERBS = _META + "Verbs"
_EXTRA_VALUE = "k8s.io.api.authentication.v1.ExtraValue"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Scalar proto types by the wire type their single values use.
_VARINT_TYPES = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool"}
_FIXED32_TYPES = {"fixed32", "sfixed32", "float"}
_FIXED64_TYPES = {"fixed64", "sfixed64", "double"}
_LEN_TYPES = {"string", "bytes"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a message: JSON name, proto type, label and, for maps, the key type."""

    name: str
    type: str
    label: str  # "optional", "omitempty", "repeated", "map" or "inline"
    key_type: str | None = None


@dataclass(frozen=True, slots=True)
class Schema:
    messages: dict[str, dict[int, FieldSpec]]
    kinds: dict[str, str]  # "apiVersion/Kind" -> message name


@functools.cache
def schema() -> Schema:
    """The message table, loaded once (it is package data, so it is trusted)."""
    raw = json.loads(resources.files(__package__).joinpath(TABLE).read_text(encoding="utf-8"))
    messages = {
        name: {int(number): FieldSpec(*entry) for number, entry in fields.items()}
        for name, fields in raw["messages"].items()
    }
    return Schema(messages=messages, kinds=dict(raw["kinds"]))


def is_protobuf(content_type: str) -> bool:
    """Whether a Content-Type header names the Kubernetes protobuf encoding."""
    return content_type.split(";", 1)[0].strip().lower() == MEDIA_TYPE


def decode(body: bytes) -> dict[str, Any]:
    """Decode a Kubernetes protobuf body into the JSON form of the object it carries."""
    if len(body) > MAX_BODY:
        raise ProtobufError(f"the body is larger than {MAX_BODY} bytes")
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    return _Decoder(schema()).unknown(memoryview(body)[len(MAGIC) :], 0)


class _Decoder:
    def __init__(self, table: Schema) -> None:
        self.messages = table.messages
        self.kinds = table.kinds

    # The envelope.

    def unknown(self, data: memoryview, depth: int) -> dict[str, Any]:
        """Decode a ``runtime.Unknown`` envelope and the object in it."""
        if depth > MAX_DEPTH:
            raise ProtobufError(f"the body is nested more than {MAX_DEPTH} levels deep")
        api_version = kind = encoding = ""
        raw: memoryview | None = None
        for number, wire_type, value in wire.iter_fields(data, depth):
            if number == 1:
                type_meta = _len(value, wire_type, "typeMeta")
                for tm_number, tm_wire, tm_value in wire.iter_fields(type_meta, depth + 1):
                    if tm_number == 1:
                        api_version = _text(_len(tm_value, tm_wire, "apiVersion"))
                    elif tm_number == 2:
                        kind = _text(_len(tm_value, tm_wire, "kind"))
            elif number == 2:
                raw = _len(value, wire_type, "raw")
            elif number == 3:
                encoding = _text(_len(value, wire_type, "contentEncoding"))
        if encoding:
            raise ProtobufError(f"unsupported content encoding {encoding!r}")
        if not kind:
            raise ProtobufError("Object 'Kind' is missing in the protobuf body")
        message = self.kinds.get(f"{api_version}/{kind}")
        if message is None:
            raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}"')
        obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
        if raw is not None:
            self.message(raw, message, depth + 1, obj)
        return obj

    # Messages.

    def message(
        self, data: memoryview, name: str, depth: int, into: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Decode one message; fields go into ``into`` when given (merging, as proto does)."""
        if depth > MAX_DEPTH:
            raise ProtobufError(f"the body is nested more than {MAX_DEPTH} levels deep")
        fields = self.messages[name]
        obj = {} if into is None else into
        for number, wire_type, value in wire.iter_fields(data, depth):
            spec = fields.get(number)
            if spec is None:
                continue  # an unknown field: skipped, like Go's generated code does
            if spec.label == "map":
                entry = _len(value, wire_type, spec.name)
                key, item = self.map_entry(entry, spec, depth + 1)
                target = obj.get(spec.name)
                if not isinstance(target, dict):
                    target = obj[spec.name] = {}
                target[key] = item
            elif spec.label == "repeated":
                items = obj.get(spec.name)
                if not isinstance(items, list):
                    items = obj[spec.name] = []
                if wire_type == wire.LEN and spec.type in _PACKABLE:
                    packed = wire.iter_packed(
                        _len(value, wire_type, spec.name), _scalar_wire_type(spec.type)
                    )
                    items.extend(_convert_number(spec.type, v) for v in packed)
                else:
                    items.append(self.value(spec, wire_type, value, depth + 1, None))
            elif spec.label == "inline":
                self.message(_len(value, wire_type, spec.name), spec.type, depth + 1, obj)
            elif spec.label == "omitempty":
                scalar = self.value(spec, wire_type, value, depth + 1, None)
                if scalar:
                    obj[spec.name] = scalar
                else:  # a later zero still overrides an earlier value: last one wins
                    obj.pop(spec.name, None)
            else:
                obj[spec.name] = self.value(spec, wire_type, value, depth + 1, obj.get(spec.name))
        return obj

    def map_entry(self, entry: memoryview, spec: FieldSpec, depth: int) -> tuple[str, Any]:
        key: Any = _default(spec.key_type or "string")
        item: Any = None
        seen_value = False
        value_spec = FieldSpec(spec.name, spec.type, "optional")
        key_spec = FieldSpec(spec.name, spec.key_type or "string", "optional")
        for number, wire_type, value in wire.iter_fields(entry, depth):
            if number == 1:
                key = self.value(key_spec, wire_type, value, depth + 1, None)
            elif number == 2:
                item = self.value(value_spec, wire_type, value, depth + 1, item)
                seen_value = True
        if not seen_value:
            # Go stores the zero value of a missing map value.
            item = self.empty(spec.type, depth + 1)
        return (key if isinstance(key, str) else json.dumps(key)), item

    def empty(self, type_name: str, depth: int) -> Any:
        """The JSON of a field's zero value (what Go stores for an absent map value)."""
        if type_name in self.messages:
            return self.value(
                FieldSpec("", type_name, "optional"), wire.LEN, memoryview(b""), depth, None
            )
        return _default(type_name)

    def value(
        self, spec: FieldSpec, wire_type: int, value: wire.FieldValue, depth: int, prior: Any
    ) -> Any:
        """Convert one non-repeated value (a scalar or a message) to its JSON form."""
        type_name = spec.type
        if type_name in self.messages:
            data = _len(value, wire_type, spec.name)
            special = _SPECIAL.get(type_name)
            if special is not None:
                return special(self, data, depth)
            into = prior if isinstance(prior, dict) else None
            return self.message(data, type_name, depth, into)
        if type_name in _LEN_TYPES:
            data = _len(value, wire_type, spec.name)
            if type_name == "string":
                return _text(data)
            return base64.b64encode(data).decode("ascii")
        expected = _scalar_wire_type(type_name)
        if wire_type != expected or not isinstance(value, int):
            raise ProtobufError(f"wrong wire type {wire_type} for field {spec.name}")
        return _convert_number(type_name, value)

    # Well-known wrapper messages: decoded generically, then given their JSON shape.

    def time(self, data: memoryview, depth: int) -> str | None:
        if not data:
            return None  # Go marshals a zero Time as an empty message
        seconds = self.message(data, _TIME, depth).get("seconds", 0)
        return _format_time(seconds * 1_000_000, micro=False)

    def micro_time(self, data: memoryview, depth: int) -> str | None:
        if not data:
            return None
        parts = self.message(data, _MICRO_TIME, depth)
        nanos = parts.get("seconds", 0) * 1_000_000_000 + parts.get("nanos", 0)
        return _format_time(nanos // 1000, micro=True)

    def duration(self, data: memoryview, depth: int) -> str:
        return _go_duration(self.message(data, _DURATION, depth).get("duration", 0))

    def quantity(self, data: memoryview, depth: int) -> str:
        text = self.message(data, _QUANTITY, depth).get("string")
        return "0" if text is None else str(text)

    def int_or_string(self, data: memoryview, depth: int) -> int | str:
        parts = self.message(data, _INT_OR_STRING, depth)
        kind = parts.get("type", 0)
        if kind == 0:
            return int(parts.get("intVal", 0))
        if kind == 1:
            return str(parts.get("strVal", ""))
        raise ProtobufError(f"impossible IntOrString type {kind}")

    def string_list(self, data: memoryview, depth: int, name: str) -> list[Any]:
        return list(self.message(data, name, depth).get("items", []))

    def verbs(self, data: memoryview, depth: int) -> list[Any]:
        return self.string_list(data, depth, _VERBS)

    def extra_value(self, data: memoryview, depth: int) -> list[Any]:
        return self.string_list(data, depth, _EXTRA_VALUE)

    def raw_extension(self, data: memoryview, depth: int) -> Any:
        raw = self.raw_bytes(data, depth)
        if raw is None or not raw:
            return None
        if raw[: len(MAGIC)] == MAGIC:
            return self.unknown(raw[len(MAGIC) :], depth + 1)
        return _embedded_json(raw, depth)

    def fields_v1(self, data: memoryview, depth: int) -> Any:
        raw = self.raw_bytes(data, depth)
        return None if raw is None or not raw else _embedded_json(raw, depth)

    def raw_bytes(self, data: memoryview, depth: int) -> memoryview | None:
        """Field 1 (``bytes``) of RawExtension/FieldsV1, last occurrence wins."""
        raw: memoryview | None = None
        for number, wire_type, value in wire.iter_fields(data, depth):
            if number == 1:
                raw = _len(value, wire_type, "raw")
        return raw


_SPECIAL: dict[str, Callable[[_Decoder, memoryview, int], Any]] = {
    _TIME: _Decoder.time,
    _MICRO_TIME: _Decoder.micro_time,
    _DURATION: _Decoder.duration,
    _QUANTITY: _Decoder.quantity,
    _INT_OR_STRING: _Decoder.int_or_string,
    _VERBS: _Decoder.verbs,
    _EXTRA_VALUE: _Decoder.extra_value,
    _RAW_EXTENSION: _Decoder.raw_extension,
    _FIELDS_V1: _Decoder.fields_v1,
}

_PACKABLE = _VARINT_TYPES | _FIXED32_TYPES | _FIXED64_TYPES


def _scalar_wire_type(type_name: str) -> int:
    if type_name in _VARINT_TYPES:
        return wire.VARINT
    if type_name in _FIXED32_TYPES:
        return wire.FIXED32
    if type_name in _FIXED64_TYPES:
        return wire.FIXED64
    return wire.LEN


def _convert_number(type_name: str, value: int) -> int | bool | float:
    if type_name == "bool":
        return value != 0
    if type_name in ("int32", "sfixed32"):
        return wire.to_signed(value, 32)
    if type_name in ("int64", "sfixed64"):
        return wire.to_signed(value, 64)
    if type_name in ("uint32", "fixed32"):
        return value & 0xFFFFFFFF
    if type_name == "sint32":
        return wire.zigzag(value, 32)
    if type_name == "sint64":
        return wire.zigzag(value, 64)
    if type_name in ("float", "double"):
        number = wire.to_float(value) if type_name == "float" else wire.to_double(value)
        if not math.isfinite(number):
            raise ProtobufError(f"{number} cannot be represented in JSON")
        return number
    return value  # uint64, fixed64


def _default(type_name: str) -> Any:
    if type_name == "string":
        return ""
    if type_name == "bytes":
        return ""  # base64 of no bytes
    if type_name == "bool":
        return False
    if type_name in ("float", "double"):
        return 0.0
    return 0


def _len(value: wire.FieldValue, wire_type: int, name: str) -> memoryview:
    if wire_type != wire.LEN or not isinstance(value, memoryview):
        raise ProtobufError(f"wrong wire type {wire_type} for field {name}")
    return value


def _text(data: memoryview) -> str:
    # Go keeps any bytes in a string; its JSON encoder then replaces invalid UTF-8 with U+FFFD.
    return bytes(data).decode("utf-8", errors="replace")


def _embedded_json(raw: memoryview, depth: int) -> Any:
    try:
        value = orjson.loads(bytes(raw))
    except orjson.JSONDecodeError as exc:
        raise ProtobufError(f"embedded object is not valid JSON: {exc}") from None
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > MAX_DEPTH:
            raise ProtobufError(f"the body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return value


def _format_time(micros: int, *, micro: bool) -> str:
    """RFC 3339 in UTC, as metav1.Time (seconds) and MicroTime (microseconds) marshal."""
    try:
        moment = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise ProtobufError("timestamp is out of range") from None
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    return f"{text}.{moment.microsecond:06d}Z" if micro else f"{text}Z"


def _go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u < 1_000_000_000:
        for limit, unit, precision in ((1_000, "ns", 0), (1_000_000, "µs", 3)):
            if u < limit:
                return f"{sign}{_decimal(u, precision)}{unit}"
        return f"{sign}{_decimal(u, 6)}ms"
    seconds, fraction = divmod(u, 1_000_000_000)
    text = f"{seconds % 60}{_fraction(fraction, 9)}s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes // 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _decimal(value: int, precision: int) -> str:
    whole, fraction = divmod(value, 10**precision)
    return f"{whole}{_fraction(fraction, precision)}"


def _fraction(fraction: int, precision: int) -> str:
    if not fraction:
        return ""
    return "." + str(fraction).rjust(precision, "0").rstrip("0")
