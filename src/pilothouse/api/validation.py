"""Name, label and annotation rules of the Kubernetes API, worded as kube-apiserver words them.

The ``is_*`` helpers mirror ``k8s.io/apimachinery/pkg/util/validation``: each returns a list of
error *details* (empty when the value is valid), e.g. ``must be no more than 63 characters``.
Callers turn a detail into a field error; :class:`FieldError` renders one the way
``field.Error`` does (``metadata.labels: Invalid value: "a b": name part must consist of...``),
so that ``Status.details.causes`` and aggregated messages match the real server byte for byte.

Design choices:

* The wording is that of the Kubernetes releases current clients are tested against
  (``must be no more than 253 characters`` for lengths, ``must have at most 262144 bytes`` for
  the annotation budget, ``a qualified name ...`` for malformed keys). Newer upstream trees
  renamed a few of these; one wording is used consistently rather than mixing releases.
* Lengths are counted in UTF-8 bytes because Go's ``len`` counts bytes; a non-ASCII value is
  rejected by the pattern anyway, but the *length* message must appear (or not) as in Go.
* Patterns use :func:`re.fullmatch`: Go's ``^...$`` never matches before a trailing newline,
  Python's ``$`` does.
* :func:`validate_object_name` knows the name rule of each built-in resource
  (``services`` are DNS-1035 labels, ``namespaces`` and ``statefulsets.apps`` DNS-1123 labels,
  RBAC objects path segments, ...). Everything unlisted, custom resources included, uses the
  DNS-1123 subdomain rule. ``prefix=True`` validates a ``generateName`` the way
  ``NameIsDNSSubdomain(name, true)`` does: a trailing ``-`` is masked before checking, since a
  random suffix will follow it. Emptiness is not a name-rule concern: the caller reports
  ``Required value: name or generateName is required`` itself.

Also home to two Go-formatting helpers shared by the selector modules: :func:`go_quote`
(``strconv.Quote`` / ``%q``) and :func:`go_sprint` (``fmt.Sprint`` of JSON values).
"""

from __future__ import annotations

import decimal
import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DNS1035_LABEL_MAX_LENGTH",
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "NAME_RULES",
    "QUALIFIED_NAME_MAX_LENGTH",
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "FieldError",
    "NameRule",
    "Reason",
    "go_quote",
    "go_sprint",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_label_value",
    "name_rule",
    "validate_annotations",
    "validate_labels",
    "validate_object_name",
    "validate_path_segment_name",
]

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)

_DNS1123_LABEL_RE = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = re.compile(_DNS1035_LABEL_FMT)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)


def _byte_len(value: str) -> int:
    # surrogatepass: a lone surrogate (from undecodable input) must not turn a length check
    # into an exception.
    return len(value.encode("utf-8", "surrogatepass"))


def _max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    # The doubled space after each comma is in the real message ("'my-name',  or '123-abc'").
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def is_dns1123_label(value: str) -> list[str]:
    """RFC 1123 label: ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, at most 63 characters."""
    errs: list[str] = []
    if _byte_len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _DNS1123_LABEL_RE.fullmatch(value):
        if _DNS1123_SUBDOMAIN_RE.fullmatch(value):
            # A valid subdomain that is not a valid label can only be failing on its dots.
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """RFC 1123 subdomain: dot-separated labels, at most 253 characters."""
    errs: list[str] = []
    if _byte_len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(_max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """RFC 1035 label: like an RFC 1123 label but starting with a letter."""
    errs: list[str] = []
    if _byte_len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(_max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _DNS1035_LABEL_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A label or annotation key: ``[prefix/]name``, prefix a DNS subdomain, name 63 chars."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + _max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """A label value: empty, or a qualified-name-shaped string of at most 63 characters."""
    errs: list[str] = []
    if _byte_len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(_max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


def validate_path_segment_name(name: str, prefix: bool = False) -> list[str]:
    """Names that only need to be safe as one URL path segment (RBAC objects and friends).

    Historically neither emptiness nor length is checked here. With ``prefix`` (a
    ``generateName``) the exact names ``.``/``..`` are allowed since a suffix follows.
    """
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]


# --- Go formatting --------------------------------------------------------------------------

_GO_ESCAPES = {
    "\a": r"\a",
    "\b": r"\b",
    "\f": r"\f",
    "\n": r"\n",
    "\r": r"\r",
    "\t": r"\t",
    "\v": r"\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(value: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal, as ``%q`` prints it."""
    out = ['"']
    for ch in value:
        escaped = _GO_ESCAPES.get(ch)
        code = ord(ch)
        if escaped is not None:
            out.append(escaped)
        elif 0xDC80 <= code <= 0xDCFF:
            # surrogateescape'd raw byte: Go holds the byte itself and prints it as \xNN.
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        elif ch.isprintable():
            # Python's printable set (letters, marks, numbers, punctuation, symbols and the
            # ASCII space) is exactly Go's unicode.IsPrint.
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _go_float(value: float) -> str:
    # fmt's %v for float64 is strconv 'g' with the shortest exact digits, switching to
    # exponent form below 1e-4 and from 1e+06 (precision 6 is used for that decision).
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = decimal.Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)  # finite by the checks above
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # position of the decimal point within the digits
    prefix = "-" if sign else ""
    exp10 = point - 1
    if exp10 < -4 or exp10 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def go_sprint(value: object) -> str:
    """``fmt.Sprint`` of a decoded JSON value (strings bare, ``true``, ``1e+06``, ``map[a:1]``)."""
    if value is None:
        return "<nil>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        # Go prints maps with their keys sorted.
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in items) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(item) for item in value) + "]"
    return str(value)


def _go_json(value: object) -> str:
    # encoding/json: compact, sorted keys, HTML-sensitive characters escaped.
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


# --- field errors ---------------------------------------------------------------------------


class Reason(enum.StrEnum):
    """``field.ErrorType``: the ``reason`` of a ``StatusCause``."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"


_REASON_TEXT = {
    Reason.NOT_FOUND: "Not found",
    Reason.REQUIRED: "Required value",
    Reason.DUPLICATE: "Duplicate value",
    Reason.INVALID: "Invalid value",
    Reason.NOT_SUPPORTED: "Unsupported value",
    Reason.FORBIDDEN: "Forbidden",
    Reason.TOO_LONG: "Too long",
    Reason.TOO_MANY: "Too many",
    Reason.INTERNAL: "Internal error",
    Reason.TYPE_INVALID: "Invalid value",
}
# These reasons never show the offending value (a too-long value could be megabytes).
_VALUELESS = frozenset({Reason.REQUIRED, Reason.FORBIDDEN, Reason.TOO_LONG, Reason.INTERNAL})


@dataclass(frozen=True)
class FieldError:
    """One failing field, like Go's ``field.Error``.

    ``message`` is the detail only (``must be no more than 63 characters``); :attr:`body` is
    the text a ``StatusCause.message`` carries (``Invalid value: "x": must be ...``) and
    ``str()`` the ``field: body`` form used in aggregated messages.
    """

    field: str
    value: object
    message: str
    reason: str = Reason.INVALID

    @property
    def body(self) -> str:
        """``field.Error.ErrorBody()``: reason text, rendered value, detail."""
        try:
            reason = Reason(self.reason)
        except ValueError:
            text = f'<unknown error "{self.reason}">'
        else:
            text = _REASON_TEXT[reason]
            if reason not in _VALUELESS:
                text = f"{text}: {_render_value(self.value)}"
        return f"{text}: {self.message}" if self.message else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body}"

    def to_cause(self) -> dict[str, str]:
        """The ``StatusCause`` dict (``reason``, ``message``, ``field``)."""
        return {"reason": str(self.reason), "message": self.body, "field": self.field}


def _render_value(value: object) -> str:
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool | int | float):
        return go_sprint(value)
    return _go_json(value)


def _string_items(mapping: Mapping[str, str] | None) -> list[tuple[str, str]]:
    # Absent maps and non-string entries are the schema's to report (as type errors).
    if not isinstance(mapping, Mapping):
        return []
    return [(k, v) for k, v in mapping.items() if isinstance(k, str) and isinstance(v, str)]


def validate_labels(
    labels: Mapping[str, str] | None, field_path: str = "metadata.labels"
) -> list[FieldError]:
    """``ValidateLabels``: keys are qualified names, values label values.

    Both kinds of error are reported against ``field_path`` itself (no ``[key]`` suffix), as
    the real server does. ``None`` (no labels) is valid.
    """
    errs: list[FieldError] = []
    for key, value in _string_items(labels):
        errs.extend(FieldError(field_path, key, msg) for msg in is_qualified_name(key))
        errs.extend(FieldError(field_path, value, msg) for msg in is_valid_label_value(value))
    return errs


def validate_annotations(
    annotations: Mapping[str, str] | None, field_path: str = "metadata.annotations"
) -> list[FieldError]:
    """``ValidateAnnotations``: qualified-name keys (case-insensitive) and a 256 KiB budget."""
    errs: list[FieldError] = []
    total = 0
    for key, value in _string_items(annotations):
        # The rule is a qualified name except that case does not matter.
        errs.extend(FieldError(field_path, key, msg) for msg in is_qualified_name(key.lower()))
        total += _byte_len(key) + _byte_len(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(
            FieldError(
                field_path,
                "",
                f"must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
                Reason.TOO_LONG,
            )
        )
    return errs


# --- object names ---------------------------------------------------------------------------


class NameRule(enum.Enum):
    """Which ``ValidateNameFunc`` a resource's ``metadata.name`` goes through."""

    DNS1123_SUBDOMAIN = "dns1123-subdomain"
    DNS1123_LABEL = "dns1123-label"
    DNS1035_LABEL = "dns1035-label"
    PATH_SEGMENT = "path-segment"
    NONE = "none"


#: Built-in resources whose names do not follow the default DNS-1123 subdomain rule, keyed
#: ``resource[.group]``. Pods, configmaps, secrets, nodes, deployments, jobs, CRDs, custom
#: resources and the rest are all DNS-1123 subdomains.
NAME_RULES: Mapping[str, NameRule] = {
    "namespaces": NameRule.DNS1123_LABEL,
    "services": NameRule.DNS1035_LABEL,
    # Since 1.26: pod hostnames derive from the name, and hostnames are labels.
    "statefulsets.apps": NameRule.DNS1123_LABEL,
    "roles.rbac.authorization.k8s.io": NameRule.PATH_SEGMENT,
    "rolebindings.rbac.authorization.k8s.io": NameRule.PATH_SEGMENT,
    "clusterroles.rbac.authorization.k8s.io": NameRule.PATH_SEGMENT,
    "clusterrolebindings.rbac.authorization.k8s.io": NameRule.PATH_SEGMENT,
    # Must also equal spec.version + "." + spec.group; that cross-field rule is the caller's.
    "apiservices.apiregistration.k8s.io": NameRule.PATH_SEGMENT,
    # "We don't care what you call your certificate requests."
    "certificatesigningrequests.certificates.k8s.io": NameRule.NONE,
}

# The CronJob controller appends an 11-character "-<timestamp>" to name Jobs, which must
# stay within 63 characters; the check is separate from (and after) the name rule.
_CRONJOB_NAME_MAX_LENGTH = DNS1035_LABEL_MAX_LENGTH - 11


def name_rule(group_resource: str) -> NameRule:
    """The name rule for ``resource[.group]``; DNS-1123 subdomain when not listed."""
    return NAME_RULES.get(group_resource, NameRule.DNS1123_SUBDOMAIN)


def _mask_trailing_dash(name: str) -> str:
    # generateName "foo-" will get a random suffix, so its trailing dash is not an end.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def validate_object_name(group_resource: str, name: str, *, prefix: bool = False) -> list[str]:
    """Error details for ``metadata.name`` (or, with ``prefix``, ``metadata.generateName``).

    Reported by the caller as ``field.Invalid`` on ``metadata.name``/``metadata.generateName``.
    """
    rule = name_rule(group_resource)
    if rule is NameRule.NONE:
        errs: list[str] = []
    elif rule is NameRule.PATH_SEGMENT:
        errs = validate_path_segment_name(name, prefix)
    else:
        checked = _mask_trailing_dash(name) if prefix else name
        if rule is NameRule.DNS1123_LABEL:
            errs = is_dns1123_label(checked)
        elif rule is NameRule.DNS1035_LABEL:
            errs = is_dns1035_label(checked)
        else:
            errs = is_dns1123_subdomain(checked)
    if (
        group_resource == "cronjobs.batch"
        and not prefix
        and _byte_len(name) > _CRONJOB_NAME_MAX_LENGTH
    ):
        errs.append(_max_len_error(_CRONJOB_NAME_MAX_LENGTH))
    return errs
