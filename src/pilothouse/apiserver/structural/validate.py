"""OpenAPI v3 validation of custom resources, worded exactly as kube-apiserver words it.

The real server validates a custom resource in three passes, and :func:`validate` returns
their causes in the same order:

1. embedded resources (``x-kubernetes-embedded-resource``) must carry a well-formed
   ``apiVersion`` and ``kind`` (``schema/objectmeta``);
2. kube-openapi's schema validator (``k8s.io/kube-openapi/pkg/validation/validate``) checks
   type, nullable, enum, formats, bounds, lengths, item and property counts and the
   ``allOf``/``anyOf``/``oneOf``/``not`` junctors; its errors are then converted to field
   errors as ``apiserver/validation.kubeOpenAPIResultToFieldErrors`` does, which is where
   the peculiar wording comes from (``Invalid value: "string": spec.replicas in body must
   be of type integer: "string"``, ``Too long: may not be more than 5 bytes``, ``<nil>`` as
   the field of junctor failures, ``spec.labels.key`` for map entries);
3. ``x-kubernetes-list-type`` ``set``/``map`` uniqueness (``Duplicate value``).

Design choices:

* kube-openapi's quirks are kept on purpose because clients and tests compare messages:
  formats CRDs do not support (``int32``, ``quantity``...) are ignored as the server strips
  them, a string or array under a non-numeric ``format`` skips the type check, integer data
  is compared with ``int64(minimum)``, and null never matches an ``enum``. ``anyOf`` and
  ``oneOf`` report the failures of the closest alternative, approximated here as the one
  with the fewest errors (kube-openapi counts passed checks).
* The ``metadata`` of a resource root is the standard ObjectMeta (``schemas.crd_schema``
  grafts it in); the metadata validator owns it, so it is skipped here.
* Values in messages are rendered as Go's ``fmt`` renders them (:func:`go_value`): a float
  prints as ``1e+06``, a map as ``map[string]interface {}{...}``. These helpers and
  :func:`field_error` are shared by the sibling modules.
* Formats and patterns follow Go (RE2 through ``google-re2`` when present, which
  cel-python already depends on; the ``re`` module otherwise).
* Built-in kinds are not validated against a schema: their decoder rejects wrong JSON
  types with a 400 first. :func:`validate_builtin_types` reproduces those decode errors.

The module is long: the Go rendering helpers and the format checkers it needs are kept
here, each in its own section, rather than in modules of their own.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import functools
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode, builtin_definition_name

_re2: Any
try:  # RE2 is what Go uses; cel-python ships the bindings.
    import re2 as _re2  # type: ignore[import-untyped, no-redef]
except ImportError:  # pragma: no cover - depends on the environment
    _re2 = None

__all__ = [
    "OMIT",
    "GoRepr",
    "field_error",
    "go_json",
    "go_quote",
    "go_value",
    "validate",
    "validate_at",
    "validate_builtin_types",
]

# -- Go rendering --------------------------------------------------------------------------

#: Marker for "no value in the message" (``field.OmitValueType``).
OMIT: Any = object()


class GoRepr(str):
    """A bad value already rendered the Go way (a struct's ``%#v``), printed verbatim."""


_LABELS = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}
_VALUELESS = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"}


def field_error(reason: str, field: str | None, detail: str = "", value: Any = OMIT) -> Cause:
    """A cause worded as ``field.Error.ErrorBody``; ``field=None`` is Go's nil path."""
    body = _LABELS[reason]
    if reason not in _VALUELESS and value is not OMIT:
        body = f"{body}: {go_value(value)}"
    if detail:
        body = f"{body}: {detail}"
    return Cause(reason, body, "<nil>" if field is None else field)


def child(path: str | None, name: str) -> str:
    return name if path is None else f"{path}.{name}"


def index(path: str | None, i: int | str) -> str:
    return f"{path or ''}[{i}]"


key = index  # field.Path.Key renders like an index: ``spec.labels[app]``

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES |= {"\v": "\\v", '"': '\\"', "\\": "\\\\"}


def go_quote(s: str) -> str:
    """``strconv.Quote``: printable runes kept, the rest escaped Go-style."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\ufffd")  # Go decodes lone surrogates to the replacement rune
        elif ch.isprintable():
            out.append(ch)
        elif o < 0x80:
            out.append(f"\\x{o:02x}")
        else:
            out.append(f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return "".join(out) + '"'


def _digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``abs(f)`` and the decimal point position."""
    _, digits, exp = decimal.Decimal(repr(abs(f))).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exp, int)
    return ds, len(digits) + exp


def _fixed(ds: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + ds
    if dp >= len(ds):
        return ds + "0" * (dp - len(ds))
    return ds[:dp] + "." + ds[dp:]


def _exp(ds: str, dp: int) -> str:
    x = dp - 1
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return f"{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"


def go_float(f: float) -> str:
    """``%v`` of a float64: shortest digits, exponent below 1e-4 and from 1e+06."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return sign + "0"
    ds, dp = _digits(f)
    # strconv's shortest 'g': exponent form below 1e-4 and from 1e+06 on.
    return sign + (_exp(ds, dp) if not -4 <= dp - 1 < 6 else _fixed(ds, dp))


def _go_json_float(f: float) -> str:
    if not math.isfinite(f):
        return "null"
    sign = "-" if f < 0 else ""
    if f == 0:
        return "0"
    ds, dp = _digits(f)
    if 1e-6 <= abs(f) < 1e21:
        return sign + _fixed(ds, dp)
    x = dp - 1
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    return f"{sign}{mant}e{'-' if x < 0 else '+'}{abs(x)}"


def _go_json_str(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x20 or ch in "<>&\u2028\u2029":
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def go_json(v: Any) -> str:
    """``json.Marshal`` of a JSON value (sorted keys, Go number formatting)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_json_float(v)
    if isinstance(v, str):
        return _go_json_str(v)
    if isinstance(v, Mapping):
        return "{" + ",".join(f"{_go_json_str(str(k))}:{go_json(v[k])}" for k in sorted(v)) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(go_json(x) for x in v) + "]"
    return _go_json_str(str(v))


def go_sharp(v: Any) -> str:
    """``%#v`` of a JSON value held in an ``interface{}``."""
    if v is None:
        return "interface {}(nil)"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return go_quote(v)
    if isinstance(v, Mapping):
        inner = ", ".join(f"{go_quote(str(k))}:{go_sharp(v[k])}" for k in sorted(v))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(v, list | tuple):
        return "[]interface {}{" + ", ".join(go_sharp(x) for x in v) + "}"
    return go_quote(str(v))


def go_value(v: Any) -> str:
    """How ``field.Error`` prints a bad value: simple types plainly, strings quoted, nil
    as ``"null"`` and anything else with ``%#v``."""
    if isinstance(v, GoRepr):
        return str(v)
    if v is None:
        return '"null"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return go_quote(v)
    return go_sharp(v)


_INT64 = (-(2**63), 2**63 - 1)


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


def json_kind(v: Any) -> str:
    """The JSON-schema type kube-openapi infers from a decoded value (integers that do not
    fit an int64 decode as float64, hence ``number``)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer" if _INT64[0] <= v <= _INT64[1] else "number"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def is_json_integer(f: float) -> bool:
    """``swag.IsFloat64AJSONInteger``: integral within 2^53, with a 1e-9 relative slack."""
    if not math.isfinite(f) or abs(f) > 2**53:
        return False
    r = float(round(f))
    return f == r or abs(f - r) <= 1e-9 * max(1.0, abs(f))


def deep_equal(a: Any, b: Any) -> bool:
    """``reflect.DeepEqual`` on decoded JSON: ``1``, ``1.0`` and ``True`` all differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return a is b or bool(a == b)


# -- regular expressions and formats -------------------------------------------------------


_RE2_TO_GO = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "bad repetition operator": "invalid nested repetition operator",
    "missing argument to repetition operator": "missing argument to repetition operator",
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class range": "invalid character class range",
    "invalid repetition size": "invalid repeat count",
    "invalid named capture group": "invalid named capture",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "no argument for repetition operator": "missing argument to repetition operator",
}


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> Callable[[str], bool] | str:
    """A search function for a Go (RE2) pattern, or the compile error text."""
    try:
        if _re2 is not None:
            compiled = _re2.compile(pattern)
        else:  # pragma: no cover - fallback without RE2
            compiled = re.compile(pattern.replace(r"\z", r"\Z"))
    except Exception as exc:  # both libraries raise their own error types
        msg = exc.args[0] if exc.args else exc
        text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
        what, sep, arg = text.partition(": ")
        if sep and what in _RE2_TO_GO:  # RE2's C++ wording, rephrased as Go's regexp/syntax
            text = f"{_RE2_TO_GO[what]}: `{arg}`"
        return f"error parsing regexp: {text}"
    return lambda s: compiled.search(s) is not None


def pattern_error(pattern: str) -> str | None:
    r = _regex(pattern)
    return r if isinstance(r, str) else None


def pattern_matches(pattern: str, value: str) -> bool:
    r = _regex(pattern)
    return not isinstance(r, str) and r(value)


#: Formats CRD schemas validate; every other format is stripped by the server.
SUPPORTED_FORMATS = frozenset(
    {"bsonobjectid", "uri", "email", "hostname", "ipv4", "ipv6", "cidr", "mac", "uuid", "uuid3"}
    | {"uuid4", "uuid5", "isbn", "isbn10", "isbn13", "creditcard", "ssn", "hexcolor", "rgbcolor"}
    | {"byte", "password", "date", "duration", "datetime"}
)

_HOSTNAME = (
    r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}]"
    r"(([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z0-9\p{S}\p{L}])"
    r"(-?[a-zA-Z0-9\p{S}\p{L}]){1,62})$"
)
_UUID = r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?%s[0-9a-f]{3}-?%s[0-9a-f]{3}-?[0-9a-f]{12}$"
_EMAIL_PART = r"[^\s@<>()\[\]\\,;:\"]+"
_EMAIL = re.compile(rf"^(?:{_EMAIL_PART}@{_EMAIL_PART}|[^<>]*<{_EMAIL_PART}@{_EMAIL_PART}>)$")
_GO_DURATION = re.compile(r"^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$|^[-+]?0$")
_LOOSE_DURATION = re.compile(r"(\d+)\s*([A-Za-zµ]+)")
_DURATION_UNITS: tuple[tuple[str, ...], ...] = (("ns", "nano"), ("us", "µs", "micro"))
_DURATION_UNITS += (("ms", "milli"), ("s", "sec"), ("m", "min"), ("h", "hr", "hour"))
_DURATION_UNITS += (("d", "day"), ("w", "wk", "week"))
_DATE_TIME = re.compile(r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$")
_RGB = r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*"
_CREDIT_CARD = re.compile(
    r"^(?:4[0-9]{12}(?:[0-9]{3})?|5[1-5][0-9]{14}|(222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|"
    r"27[01][0-9]|2720)[0-9]{12}|6(?:011|5[0-9][0-9])[0-9]{12}|3[47][0-9]{13}|"
    r"3(?:0[0-5]|[68][0-9])[0-9]{11}|(?:2131|1800|35\d{3})\d{11}|6[27][0-9]{14})$"
)


def _is_date(s: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        return False
    try:
        datetime.date(int(s[:4]), int(s[5:7]), int(s[8:]))
    except ValueError:
        return False
    return True


def _is_datetime(s: str) -> bool:
    parts = s.lower().split("t")
    if len(s) < 4 or len(parts) < 2 or not _is_date(parts[0]):
        return False
    m = _DATE_TIME.match(parts[1])
    return m is not None and m.group(1) <= "23" and m.group(2) <= "59" and m.group(3) <= "59"


def _is_duration(s: str) -> bool:
    if _GO_DURATION.match(s):
        return True
    for _, unit in _LOOSE_DURATION.findall(s):
        u = unit.strip().lower()
        for variants in _DURATION_UNITS:
            if u in variants or u.startswith(variants[-1]):
                return True
    return False


def _ip(s: str) -> bool:
    if "%" in s:  # Go's ParseIP rejects zones
        return False
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def _is_cidr(s: str) -> bool:
    addr, _, bits = s.partition("/")
    if not bits.isdigit() or not _ip(addr):
        return False
    try:
        ipaddress.ip_network(s, strict=False)
    except ValueError:
        return False
    return True


def _is_mac(s: str) -> bool:
    for sep, width, counts in ((":", 2, (6, 8, 20)), ("-", 2, (6, 8, 20)), (".", 4, (3, 4, 10))):
        parts = s.split(sep)
        if len(parts) in counts and all(re.fullmatch(rf"[0-9a-fA-F]{{{width}}}", p) for p in parts):
            return True
    return False


def _is_uri(s: str) -> bool:
    # Go's url.ParseRequestURI: an absolute URI (opaque or hierarchical) or an absolute
    # path, without control characters, with a sane host and valid percent-escapes.
    if not s or any(ord(c) < 0x20 or c == "\x7f" for c in s):
        return False
    if s == "*":
        return True
    m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", s)
    rest = (s[m.end() :] if m else s).split("?", 1)[0]
    if not rest.startswith("/"):
        return m is not None
    if m and rest.startswith("//"):
        host = rest[2:].split("/", 1)[0].rsplit("@", 1)[-1]
        if not re.fullmatch(r"[\w.\-~%!$&'()*+,;=:\[\]]*", host):
            return False
    return re.search(r"%(?![0-9a-fA-F]{2})", s) is None


def _isbn(s: str, version: int) -> bool:
    d = re.sub(r"[\s-]", "", s)
    if version == 10:
        if not re.fullmatch(r"[0-9]{9}[0-9X]", d):
            return False
        total = sum((i + 1) * int(c) for i, c in enumerate(d[:9]))
        return (total + 10 * (10 if d[9] == "X" else int(d[9]))) % 11 == 0
    if not re.fullmatch(r"[0-9]{13}", d):
        return False
    return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(d)) % 10 == 0


def _luhn(s: str) -> bool:
    d = re.sub(r"[^0-9]", "", s)
    if not _CREDIT_CARD.match(d):
        return False
    total = 0
    for i, c in enumerate(reversed(d)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _rx(pattern: str) -> Callable[[str], bool]:
    return lambda s: pattern_matches(pattern, s)


_FORMATS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": lambda s: re.fullmatch(r"[0-9a-fA-F]{24}", s) is not None,
    "uri": _is_uri,
    "email": lambda s: _EMAIL.match(s) is not None,
    "hostname": lambda s: (
        pattern_matches(_HOSTNAME, s) and len(s) <= 255 and all(len(p) <= 63 for p in s.split("."))
    ),
    "ipv4": lambda s: _ip(s) and "." in s,
    "ipv6": lambda s: _ip(s) and ":" in s,
    "cidr": _is_cidr,
    "mac": _is_mac,
    "uuid": _rx(_UUID % ("[0-9a-f]", "[0-9a-f]")),
    "uuid3": _rx(_UUID % ("3", "[0-9a-f]")),
    "uuid4": _rx(_UUID % ("4", "[89ab]")),
    "uuid5": _rx(_UUID % ("5", "[89ab]")),
    "isbn": lambda s: _isbn(s, 10) or _isbn(s, 13),
    "isbn10": lambda s: _isbn(s, 10),
    "isbn13": lambda s: _isbn(s, 13),
    "creditcard": _luhn,
    "ssn": lambda s: len(s) == 11 and re.fullmatch(r"\d{3}[- ]?\d{2}[- ]?\d{4}", s) is not None,
    "hexcolor": lambda s: re.fullmatch(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", s) is not None,
    "rgbcolor": lambda s: re.fullmatch(rf"rgb\({_RGB},{_RGB},{_RGB}\)", s) is not None,
    "byte": lambda s: (
        re.fullmatch(
            r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})", s
        )
        is not None
    ),
    "password": lambda s: True,
    "date": _is_date,
    "duration": _is_duration,
    "datetime": _is_datetime,
}


def format_supported(fmt: str) -> bool:
    return fmt.replace("-", "") in SUPPORTED_FORMATS


def format_valid(fmt: str, value: str) -> bool:
    check = _FORMATS.get(fmt.replace("-", ""))
    return check is None or check(value)


def dns1035_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", value):
        errs.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character "
            "(e.g. 'my-name',  or 'abc-123', regex used for validation is "
            "'[a-z]([-a-z0-9]*[a-z0-9])?')"
        )
    return errs


# -- the three passes ----------------------------------------------------------------------


def validate(obj: Any, schema: SchemaNode, path: str = "") -> list[Cause]:
    """Validate a custom resource (or the value at ``path`` in one) against its schema.

    ``path`` is the JSON path of ``obj`` in the resource, ``""`` for the resource itself;
    it prefixes the returned fields and kube-openapi's messages alike.
    """
    root = path or None
    causes = _embedded(obj, schema, root, is_root=not path)
    causes += _OpenAPI(path, None, skip_root_meta=not path).run(obj, schema)
    causes += _list_types(obj, schema, root)
    return causes


def validate_at(obj: Any, schema: SchemaNode, field_path: str) -> list[Cause]:
    """kube-openapi validation of a standalone value (a CRD ``default``) reported under
    ``field_path``, as ``ValidateCustomResource(fldPath, ...)`` does: messages name the
    value's inner path (empty for the value itself) while fields get the prefix."""
    return _OpenAPI("", field_path, skip_root_meta=False).run(obj, schema)


def _embedded(obj: Any, node: SchemaNode | None, path: str | None, is_root: bool) -> list[Cause]:
    if node is None:
        return []
    out: list[Cause] = []
    if isinstance(obj, dict):
        if node.embedded_resource and not is_root:
            out += _embedded_meta(obj, path)
        props, ap = node.properties, node.additional_properties()
        for k, v in obj.items():
            if is_root and k == "metadata":
                continue  # ObjectMeta has its own validation
            if k in props:
                out += _embedded(v, node.field(k), child(path, k), False)
            elif ap is not None:
                out += _embedded(v, ap, key(path, k), False)
    elif isinstance(obj, list):
        items = node.items()
        for i, v in enumerate(obj):
            out += _embedded(v, items, index(path, i), False)
    return out


def _embedded_meta(obj: Mapping[str, Any], path: str | None) -> list[Cause]:
    out = [
        field_error("FieldValueRequired", child(path, name), "must not be empty")
        for name in ("apiVersion", "kind")
        if name not in obj
    ]
    for name in ("apiVersion", "kind"):
        if name not in obj:
            continue
        v, fld = obj[name], child(path, name)
        if not isinstance(v, str):
            out.append(field_error("FieldValueInvalid", fld, "must be a string", v))
        elif not v:
            out.append(field_error("FieldValueInvalid", fld, "must not be empty", v))
        elif name == "apiVersion" and v.count("/") > 1:
            detail = f"unexpected GroupVersion string: {v}"
            out.append(field_error("FieldValueInvalid", fld, detail, v))
        elif name == "kind" and (problems := dns1035_errors(v.lower())):
            detail = "may have mixed case, but should otherwise match: " + ",".join(problems)
            out.append(field_error("FieldValueInvalid", fld, detail, v))
    return out


# One kube-openapi error before conversion: ``code`` selects the field-error constructor
# kubeOpenAPIResultToFieldErrors picks, ``name`` is kube-openapi's own path.
_Err = tuple[str, str, Any, str, Any]  # (code, name, value, message, limit-or-enum)


def _sub(node: SchemaNode, raw: Any) -> SchemaNode | None:
    # SchemaNode has no accessor for junctor subschemas; reuse its definitions so that a
    # $ref inside one still resolves.
    if not isinstance(raw, Mapping):
        return None
    return SchemaNode(raw, getattr(node, "_defs", None))


def _types(raw: Mapping[str, Any]) -> tuple[list[str], bool]:
    """Declared types and nullability, for the CRD style (``type: string``, ``nullable``)
    and the JSON-schema style of built-in definitions (``type: [string, "null"]``)."""
    t = raw.get("type")
    types = [x for x in t if isinstance(x, str)] if isinstance(t, list) else [t] if t else []
    nullable = bool(raw.get("nullable")) or "null" in types
    if raw.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    return [x for x in types if x != "null" and isinstance(x, str)], nullable


class _OpenAPI:
    """kube-openapi's SchemaValidator: the validators run in its order (type, junctors,
    string, format, number, slice, enum, object) and only type and enum see nulls."""

    def __init__(self, root: str, prefix: str | None, skip_root_meta: bool) -> None:
        self.root, self.prefix, self.skip_root_meta = root, prefix, skip_root_meta

    def run(self, obj: Any, schema: SchemaNode) -> list[Cause]:
        return [self._cause(e) for e in self.check(obj, schema, self.root)]

    def _cause(self, e: _Err) -> Cause:
        code, name, value, message, limit = e
        if code == "composite":  # not a *Validation: reported on the root path
            return field_error("FieldValueInvalid", self.prefix, message, "")
        fld = self.prefix
        if name and name != ".":
            fld = child(fld, name[1:] if name.startswith(".") else name)
        if code == "required":
            return field_error("FieldValueRequired", fld)
        if code == "enum":
            shown = [v if isinstance(v, str) else go_json(v) for v in limit]
            detail = "supported values: " + ", ".join(go_quote(v) for v in shown)
            return field_error("FieldValueNotSupported", fld, detail, value)
        if code == "too_long":
            return field_error("FieldValueTooLong", fld, f"may not be more than {limit} bytes")
        if code == "too_many":
            return field_error("FieldValueTooMany", fld, f"must have at most {limit} items", value)
        reason = "FieldValueTypeInvalid" if code == "type" else "FieldValueInvalid"
        return field_error(reason, fld, message, "" if value is None else value)

    def check(self, data: Any, node: SchemaNode, path: str) -> list[_Err]:
        raw = node.raw
        types, nullable = _types(raw)
        fmt = raw.get("format")
        fmt = fmt if isinstance(fmt, str) and format_supported(fmt) else ""
        if data is None:
            errs = [_type_err(path, ",".join(types), "null")] if types and not nullable else []
            return errs + self._enum(data, raw, path)
        errs = self._type(data, types, fmt, path) if types or fmt else []
        errs += self._junctors(data, node, path)
        if isinstance(data, str):
            errs += self._string(data, raw, path)
            if fmt and not format_valid(fmt, data):
                errs.append(_type_err(path, fmt, data))
        elif _is_num(data):
            errs += self._number(data, raw, path)
        elif isinstance(data, list):
            errs += self._slice(data, node, path)
        errs += self._enum(data, raw, path)
        if isinstance(data, dict):
            errs += self._object(data, node, path)
        return errs

    def _type(self, data: Any, types: list[str], fmt: str, path: str) -> list[_Err]:
        kind = json_kind(data)
        go_fmt = {"integer": "int64", "number": "float64"}.get(kind, "")
        float_int = kind == "number" and is_json_integer(float(data)) and "integer" in types
        matches = kind in types or float_int or (kind == "integer" and "number" in types)
        str_or_list = isinstance(data, str | list)
        if fmt and not str_or_list and not (matches or go_fmt == fmt):
            return [_type_err(path, fmt, go_fmt)]
        if fmt and str_or_list and "integer" not in types and "number" not in types:
            return []
        return [] if matches else [_type_err(path, ",".join(types), kind)]

    def _junctors(self, data: Any, node: SchemaNode, path: str) -> list[_Err]:
        raw, errs, q = node.raw, [], go_quote(path)

        def results(name: str) -> list[list[_Err]]:
            subs = [_sub(node, x) for x in raw.get(name) or [] if isinstance(raw.get(name), list)]
            return [self.check(data, s, path) for s in subs if s is not None]

        any_of = results("anyOf")
        if any_of and all(any_of):
            errs.append(_composite(f"{q} must validate at least one schema (anyOf)"))
            errs += _fewest(any_of)
        one_of = results("oneOf")
        if one_of and (ok := sum(1 for r in one_of if not r)) != 1:
            why = "Found none valid" if ok == 0 else f"Found {ok} valid alternatives"
            errs.append(_composite(f"{q} must validate one and only one schema (oneOf). {why}"))
            errs += _fewest(one_of) if ok == 0 else []
        all_of = results("allOf")
        if all_of:
            for r in all_of:
                errs += r
            if (ok := sum(1 for r in all_of if not r)) != len(all_of):
                none = ". None validated" if ok == 0 else ""
                errs.append(_composite(f"{q} must validate all the schemas (allOf){none}"))
        not_ = _sub(node, raw.get("not"))
        if not_ is not None and not self.check(data, not_, path):
            errs.append(_composite(f"{q} must not validate the schema (not)"))
        return errs

    def _string(self, data: str, raw: Mapping[str, Any], path: str) -> list[_Err]:
        errs: list[_Err] = []
        n = len(data)  # runes, as utf8.RuneCountInString
        max_len, min_len, pattern = raw.get("maxLength"), raw.get("minLength"), raw.get("pattern")
        if _is_int(max_len) and n > max_len:
            msg = f"{path} in body should be at most {max_len} chars long"
            errs.append(("too_long", path, data, msg, max_len))
        if _is_int(min_len) and n < min_len:
            msg = f"{path} in body should be at least {min_len} chars long"
            errs.append(("other", path, data, msg, None))
        if isinstance(pattern, str) and pattern:
            problem = pattern_error(pattern)
            if problem is not None:
                shown = f"{pattern}, but pattern is invalid: {problem}"
                errs.append(("other", path, data, f"{path} in body should match '{shown}'", None))
            elif not pattern_matches(pattern, data):
                errs.append(("other", path, data, f"{path} in body should match '{pattern}'", None))
        return errs

    def _number(self, data: int | float, raw: Mapping[str, Any], path: str) -> list[_Err]:
        errs: list[_Err] = []
        as_int = json_kind(data) == "integer"  # an int64 in Go; everything else is float64
        factor = raw.get("multipleOf")
        if _is_num(factor):
            shown = str(factor) if isinstance(factor, int) else go_float(factor)
            if factor < 0:
                msg = f"factor MultipleOf declared for {path} must be positive: {shown}"
                errs.append(("other", path, factor, msg, None))
            elif as_int and int(factor) != 0:
                if int(data) % int(factor):
                    msg = f"{path} in body should be a multiple of {int(factor)}"
                    errs.append(("other", path, data, msg, None))
            elif factor:
                f = float(data)
                if not is_json_integer(1 / factor * f if factor < 1 else f / factor):
                    msg = f"{path} in body should be a multiple of {go_float(float(factor))}"
                    errs.append(("other", path, data, msg, None))
        for bound, excl, word in (
            ("maximum", "exclusiveMaximum", "less"),
            ("minimum", "exclusiveMinimum", "greater"),
        ):
            limit = raw.get(bound)
            if not _is_num(limit):
                continue
            # Integer data is compared with int64(limit), truncating a fractional bound.
            lim: int | float = int(limit) if as_int else float(limit)
            value: int | float = int(data) if as_int else float(data)
            exclusive = raw.get(excl) is True
            beyond = value > lim if word == "less" else value < lim
            if beyond or (exclusive and value == lim):
                rel = f"{word} than" if exclusive else f"{word} than or equal to"
                shown = str(lim) if as_int else go_float(float(lim))
                errs.append(("other", path, data, f"{path} in body should be {rel} {shown}", None))
        return errs

    def _slice(self, data: list[Any], node: SchemaNode, path: str) -> list[_Err]:
        errs: list[_Err] = []
        raw, items = node.raw, node.items()
        if items is not None:
            for i, v in enumerate(data):
                errs += self.check(v, items, f"{path}[{i}]")
        n = len(data)
        min_items, max_items = raw.get("minItems"), raw.get("maxItems")
        if _is_int(min_items) and n < min_items:
            msg = f"{path} in body should have at least {min_items} items"
            errs.append(("other", path, n, msg, None))
        if _is_int(max_items) and n > max_items:
            msg = f"{path} in body should have at most {max_items} items"
            errs.append(("too_many", path, n, msg, max_items))
        if raw.get("uniqueItems") is True and any(
            deep_equal(a, b) for i, a in enumerate(data) for b in data[i + 1 :]
        ):
            errs.append(("other", path, None, f"{path} in body shouldn't contain duplicates", None))
        return errs

    def _enum(self, data: Any, raw: Mapping[str, Any], path: str) -> list[_Err]:
        enum = raw.get("enum")
        if not isinstance(enum, list) or not enum:
            return []
        if data is not None and any(_enum_match(data, e) for e in enum):
            return []
        return [("enum", path, data, "", enum)]

    def _object(self, data: dict[str, Any], node: SchemaNode, path: str) -> list[_Err]:
        raw, n = node.raw, len(data)
        min_p, max_p = raw.get("minProperties"), raw.get("maxProperties")
        if _is_int(min_p) and n < min_p:  # kube-openapi stops at a property-count failure
            return [
                ("other", path, n, f"{path} in body should have at least {min_p} properties", None)
            ]
        if _is_int(max_p) and n > max_p:
            return [
                (
                    "too_many",
                    path,
                    n,
                    f"{path} in body should have at most {max_p} properties",
                    max_p,
                )
            ]
        errs: list[_Err] = []
        props = node.properties
        extra = [k for k in data if k not in props]
        ap = node.additional_properties()
        for k in extra:
            if raw.get("additionalProperties") is False:
                errs.append(("other", path, k, f"{path}.{k} in body is a forbidden property", None))
            elif ap is not None:
                errs += self.check(data[k], ap, f"{path}.{k}")
        for name in props:
            if name not in data or (
                name == "metadata" and path == self.root and self.skip_root_meta
            ):
                continue
            sub = node.field(name)
            if sub is not None:
                errs += self.check(data[name], sub, f"{path}.{name}" if path else name)
        for req in raw.get("required") or []:
            if isinstance(req, str) and req not in data:
                errs.append(("required", f"{path}.{req}", None, "", None))
        return errs


def _type_err(path: str, type_name: str, kind: str) -> _Err:
    msg = f"{path} in body must be of type {type_name}: {go_quote(kind)}"
    return ("type", path, kind, msg, None)


def _fewest(results: list[list[_Err]]) -> list[_Err]:
    return sorted(results, key=len)[0]


def _composite(message: str) -> _Err:
    return ("composite", "", "", message, None)


def _enum_match(data: Any, allowed: Any) -> bool:
    if deep_equal(data, allowed):
        return True
    # Go converts the value to the entry's type before comparing; among JSON values only
    # numbers convert into each other (truncating into an integer entry).
    if _is_num(data) and _is_num(allowed):
        return (int(data) if isinstance(allowed, int) else float(data)) == allowed
    return False


def _token(v: Any) -> Any:
    """A hashable identity for a JSON value with Go's map-key semantics (``1`` and ``1.0``
    differ), compound values by their JSON encoding."""
    if isinstance(v, dict | list):
        return ("compound", go_json(v))
    return (json_kind(v), type(v).__name__, v)


def _second_occurrences(tokens: list[Any]) -> list[int]:
    counts: dict[Any, int] = {}
    out = []
    for i, t in enumerate(tokens):
        counts[t] = counts.get(t, 0) + 1
        if counts[t] == 2:  # the server reports each repeated value once
            out.append(i)
    return out


def _list_types(obj: Any, node: SchemaNode | None, path: str | None) -> list[Cause]:
    if node is None:
        return []
    out: list[Cause] = []
    if isinstance(obj, dict):
        props, ap = node.properties, node.additional_properties()
        for k, v in obj.items():
            if k in props and not (path is None and k == "metadata"):
                out += _list_types(v, node.field(k), child(path, k))
        if ap is not None:
            for k, v in obj.items():
                out += _list_types(v, ap, key(path, k))
    elif isinstance(obj, list):
        if node.list_type == "set":
            for i in _second_occurrences([_token(x) for x in obj]):
                out.append(field_error("FieldValueDuplicate", index(path, i), value=obj[i]))
        elif node.list_type == "map":
            out += _list_map(obj, node, path)
        items = node.items()
        for i, v in enumerate(obj):
            out += _list_types(v, items, index(path, i))
    return out


def _list_map(obj: list[Any], node: SchemaNode, path: str | None) -> list[Cause]:
    for i, x in enumerate(obj):
        if x is not None and not isinstance(x, dict):
            detail = "must be an object for an array of list-type map"
            return [field_error("FieldValueInvalid", index(path, i), detail, x)]
    items = node.items()
    keys = node.list_map_keys
    # A missing key takes the key property's default; missing without one, all such
    # entries collide on purpose.
    defaults = {k: (items.properties.get(k) or {}).get("default") if items else None for k in keys}
    rows = []
    for i, x in enumerate(obj):
        if isinstance(x, dict):
            shown = {k: x.get(k, defaults[k]) for k in keys if k in x or defaults[k] is not None}
            rows.append(
                (i, shown, tuple(_token(shown[k]) if k in shown else "unset" for k in keys))
            )
    return [
        field_error("FieldValueDuplicate", index(path, rows[j][0]), value=rows[j][1])
        for j in _second_occurrences([r[2] for r in rows])
    ]


# -- built-in kinds: Go's JSON decoder -----------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_QUANTITY_ERR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_FREE_FORM = {"RawExtension", "JSON", "FieldsV1"}
_JSON_NAMES = {"boolean": "bool", "string": "string", "array": "array", "object": "object"}


def _json_name(v: Any) -> str:
    """How Go's decoder names a JSON value in ``cannot unmarshal <...>``."""
    kind = json_kind(v)
    return "number" if kind in ("integer", "number") else _JSON_NAMES.get(kind, kind)


def _literal(v: Any) -> str:
    return go_json(v) if not isinstance(v, float) or not v.is_integer() else repr(v)


def _go_type(raw: Any, node: SchemaNode) -> str:
    ref = raw.get("$ref") if isinstance(raw, Mapping) else None
    if isinstance(ref, str):
        parts = ref.rsplit("/", 1)[-1].split(".")
        return ".".join(parts[-2:])
    t, fmt = node.type, node.raw.get("format")
    if t == "array":
        items = node.items()
        return "[]" + (_go_type(node.raw.get("items"), items) if items else "interface {}")
    if t == "object":
        ap = node.additional_properties()
        return "map[string]" + (
            _go_type(node.raw.get("additionalProperties"), ap) if ap else "interface {}"
        )
    if t == "integer":
        return "int32" if fmt == "int32" else "int64"
    if t == "number":
        return "float32" if fmt == "float" else "float64"
    return {"string": "[]uint8" if fmt == "byte" else "string", "boolean": "bool"}.get(
        t or "", "interface {}"
    )


def validate_builtin_types(obj: Any, schema: SchemaNode) -> list[Cause]:
    """JSON type mismatches that make the real server's decoder reject a built-in object.

    Built-in kinds are decoded into Go structs before any validation, so a wrong JSON type
    is a 400 ``BadRequest`` (``Deployment in version "v1" cannot be handled as a
    Deployment: json: cannot unmarshal string into Go struct field
    DeploymentSpec.spec.replicas of type int32``), never a 422. Each cause carries that Go
    message (from ``json: cannot unmarshal`` on) as ``message``, the JSON path of the
    offending value as ``field`` and ``FieldValueTypeInvalid`` as reason. The decoder
    reports only the first mismatch, so callers should too; custom unmarshalers
    (IntOrString, Quantity, Time) produce their own messages as in Go.
    """
    props = schema.properties
    kind = (props.get("kind") or {}).get("enum") or [""]
    api = (props.get("apiVersion") or {}).get("enum") or [""]
    name = builtin_definition_name(str(api[0]), str(kind[0])) if kind[0] and api[0] else None
    out: list[Cause] = []
    if not isinstance(obj, dict):
        go_type = ".".join(name.split(".")[-2:]) if name else "map[string]interface {}"
        msg = f"json: cannot unmarshal {_json_name(obj)} into Go value of type {go_type}"
        return [Cause("FieldValueTypeInvalid", msg, "<nil>")]
    _decode_fields(obj, schema, str(kind[0]), "", None, out)
    return out


def _decode_fields(
    obj: dict[str, Any],
    node: SchemaNode,
    struct: str,
    fpath: str,
    path: str | None,
    out: list[Cause],
) -> None:
    props = node.properties
    for k, v in obj.items():
        sub = node.field(k) if k in props else None
        if sub is not None:
            _decode(v, props[k], sub, struct, f"{fpath}.{k}" if fpath else k, child(path, k), out)


def _decode(
    v: Any, raw: Any, node: SchemaNode, struct: str, fpath: str, path: str, out: list[Cause]
) -> None:
    if v is None:
        return
    ref = raw.get("$ref") if isinstance(raw, Mapping) else None
    short = ref.rsplit(".", 1)[-1] if isinstance(ref, str) else ""

    def fail(message: str) -> None:
        out.append(Cause("FieldValueTypeInvalid", message, path))

    def mismatch(what: str) -> None:
        go_type = _go_type(raw, node)
        fail(
            f"json: cannot unmarshal {what} into Go struct field {struct}.{fpath} of type {go_type}"
        )

    if short in _FREE_FORM:
        return
    if short == "IntOrString":
        if not isinstance(v, str) and not (_is_int(v) and -(2**31) <= v < 2**31):
            what = _json_name(v) if not _is_num(v) else f"number {_literal(v)}"
            fail(f"json: cannot unmarshal {what} into Go value of type int32")
        return
    if short == "Quantity":
        text = v if isinstance(v, str) else _literal(v) if _is_num(v) else go_json(v)
        if not _QUANTITY.match(text.strip()):
            fail(_QUANTITY_ERR)
        return
    if short in ("Time", "MicroTime"):
        if not isinstance(v, str):
            fail(f"json: cannot unmarshal {_json_name(v)} into Go value of type string")
        elif not _RFC3339.match(v):
            layout = (
                "2006-01-02T15:04:05Z07:00"
                if short == "Time"
                else "2006-01-02T15:04:05.000000Z07:00"
            )
            fail(f'parsing time {go_quote(v)} as "{layout}": cannot parse {go_quote(v)} as "2006"')
        return
    t = node.type
    if t == "object":
        if not isinstance(v, dict):
            return mismatch(_json_name(v))
        if node.properties:
            _decode_fields(v, node, short or struct, fpath, path, out)
        elif (ap := node.additional_properties()) is not None:
            ap_raw = node.raw.get("additionalProperties")
            for k, x in v.items():
                _decode(x, ap_raw, ap, struct, fpath, key(path, k), out)
    elif t == "array":
        if not isinstance(v, list):
            return mismatch(_json_name(v))
        if (items := node.items()) is not None:
            for i, x in enumerate(v):
                _decode(x, node.raw.get("items"), items, struct, fpath, index(path, i), out)
    elif t == "string":
        if not isinstance(v, str):
            mismatch(_json_name(v))
        elif node.raw.get("format") == "byte":
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                fail("illegal base64 data at input byte 0")
    elif t == "integer":
        bits = 32 if node.raw.get("format") == "int32" else 64
        if not _is_num(v):
            mismatch(_json_name(v))
        elif not _is_int(v) or not -(2 ** (bits - 1)) <= v < 2 ** (bits - 1):
            mismatch(f"number {_literal(v)}")
    elif t == "number":
        if not _is_num(v):
            mismatch(_json_name(v))
    elif t == "boolean" and not isinstance(v, bool):
        mismatch(_json_name(v))
