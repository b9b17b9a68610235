"""Name, label and annotation rules of the Kubernetes API, worded as kube-apiserver words them.

The ``is_*`` helpers mirror ``k8s.io/apimachinery/pkg/util/validation``: each returns a list of
error *details* (empty when the value is valid), e.g. ``must be no more than 63 characters``.
Callers turn a detail into a field error; :class:`~pilothouse.api.fielderrors.FieldError`
renders one the way ``field.Error`` does (``metadata.labels: Invalid value: "a b": name part
must consist of...``), so that ``Status.details.causes`` and aggregated messages match the
real server byte for byte.

Design choices:

* The wording is that of the Kubernetes releases current clients are tested against
  (``must be no more than 253 characters`` for lengths, ``must have at most 262144 bytes`` for
  the annotation budget, ``a qualified name ...`` for malformed keys). Newer upstream trees
  renamed a few of these; one wording is used consistently rather than mixing releases.
* Lengths are counted in UTF-8 bytes because Go's ``len`` counts bytes; a non-ASCII value is
  rejected by the pattern anyway, but the *length* message must appear (or not) as in Go.
* Patterns use :func:`re.fullmatch`: Go's ``^...$`` never matches before a trailing newline,
  Python's ``$`` does.
* :func:`validate_object_name` applies the name rule of each built-in resource (the table is
  :mod:`~pilothouse.api.namerules`). ``prefix=True`` validates a ``generateName`` the way
  ``NameIsDNSSubdomain(name, true)`` does: a trailing ``-`` is masked before checking, since a
  random suffix will follow it. Emptiness is not a name-rule concern: the caller reports
  ``Required value: name or generateName is required`` itself.

This module is the validation entry point, so it also re-exports what its callers use
alongside the validators: :class:`FieldError` and :class:`Reason`
(:mod:`~pilothouse.api.fielderrors`), :func:`go_quote` and :func:`go_sprint`
(:mod:`~pilothouse.api.goformat`) and the name-rule table (:mod:`~pilothouse.api.namerules`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pilothouse.api.fielderrors import FieldError, Reason
from pilothouse.api.goformat import go_quote, go_sprint
from pilothouse.api.namerules import NAME_RULES, NameRule, name_rule

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


# --- labels and annotations -----------------------------------------------------------------


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

# The CronJob controller appends an 11-character "-<timestamp>" to name Jobs, which must
# stay within 63 characters; the check is separate from (and after) the name rule.
_CRONJOB_NAME_MAX_LENGTH = DNS1035_LABEL_MAX_LENGTH - 11


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
