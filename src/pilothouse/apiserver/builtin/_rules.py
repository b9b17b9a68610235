"""Value rules and label-selector checks shared by the built-in validators.

``k8s.io/apimachinery/pkg/util/validation`` rules that :mod:`pilothouse.api.validation`
does not carry (config-map keys, port numbers and names, percents, IPs, relaxed
environment-variable names, fully qualified names, int-or-percent values) live here,
worded exactly as upstream, next to thin adapters from :mod:`pilothouse.api.validation`'s
label/annotation checks and :mod:`pilothouse.api.labels`' selectors to
:class:`~pilothouse.apiserver.errors.Cause` lists.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from pilothouse.api import labels as api_labels
from pilothouse.api import validation as api_validation
from pilothouse.apiserver.builtin._util import (
    as_dict,
    child,
    dicts,
    forbidden,
    get_list,
    get_str,
    go_int_or_string,
    inclusive_range_error,
    index,
    invalid,
    is_int,
    nonnegative,
    required,
    string_map,
)
from pilothouse.apiserver.errors import Cause

# --- value rules missing from pilothouse.api.validation -------------------------------------

_CONFIG_KEY_RE = re.compile(r"[-._a-zA-Z0-9]+")
_PERCENT_RE = re.compile(r"[0-9]+%")
_PORT_NAME_CHARSET_RE = re.compile(r"[-a-z0-9]+")
_PORT_NAME_LETTER_RE = re.compile(r".*[a-z].*", re.DOTALL)


def is_config_map_key(value: str) -> list[str]:
    errs: list[str] = []
    if len(value.encode()) > api_validation.DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(
            f"must be no more than {api_validation.DNS1123_SUBDOMAIN_MAX_LENGTH} characters"
        )
    if not _CONFIG_KEY_RE.fullmatch(value):
        errs.append(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
            "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', "
            "regex used for validation is '[-._a-zA-Z0-9]+')"
        )
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_valid_port_num(port: object) -> list[str]:
    if is_int(port) and 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def is_valid_port_name(port: str) -> list[str]:
    errs: list[str] = []
    if len(port) > 15:
        errs.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARSET_RE.fullmatch(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER_RE.fullmatch(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def validate_port_num_or_name(path: str, port: object) -> list[Cause]:
    """``ValidatePortNumOrName`` for an ``IntOrString`` port."""
    if isinstance(port, str):
        return [invalid(path, port, msg) for msg in is_valid_port_name(port)]
    if not is_int(port):
        port = 0
    return [invalid(path, port, msg) for msg in is_valid_port_num(port)]


def is_valid_percent(value: str) -> list[str]:
    if _PERCENT_RE.fullmatch(value):
        return []
    return [
        "a valid percent string must be a numeric string followed by an ending '%' "
        "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
    ]


def is_relaxed_env_var_name(value: str) -> list[str]:
    # RelaxedEnvironmentVariableValidation is on by default in 1.32: any printable ASCII
    # character but '=' is allowed.
    if any(ord(c) < 32 or ord(c) > 126 or c == "=" for c in value):
        return [
            "a valid environment variable name must consist only of printable ASCII "
            "characters other than '='"
        ]
    return []


def is_valid_ip(path: str, value: str) -> list[Cause]:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return [
            invalid(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
        ]
    return []


def is_fully_qualified_name(path: str, name: str) -> list[Cause]:
    """``IsFullyQualifiedName``: a DNS subdomain with at least three segments."""
    if not name:
        return [required(path)]
    errs = api_validation.is_dns1123_subdomain(name)
    if errs:
        return [invalid(path, name, ",".join(errs))]
    if len(name.split(".")) < 3:
        return [
            invalid(path, name, "should be a domain with at least three segments separated by dots")
        ]
    return []


def int_or_percent_value(value: object) -> int:
    """``getIntOrPercentValue``: the percent number or the integer (0 when unparseable)."""
    if isinstance(value, str):
        if _PERCENT_RE.fullmatch(value):
            return int(value[:-1])
        return 0
    return value if is_int(value) else 0


def validate_positive_int_or_percent(path: str, value: object) -> list[Cause]:
    """``ValidatePositiveIntOrPercent``."""
    if isinstance(value, str):
        return [invalid(path, go_int_or_string(value), msg) for msg in is_valid_percent(value)]
    if is_int(value):
        return nonnegative(path, value)
    return [invalid(path, go_int_or_string(value), "must be an integer or percentage (e.g '5%%')")]


def not_more_than_100_percent(path: str, value: object) -> list[Cause]:
    if isinstance(value, str) and _PERCENT_RE.fullmatch(value) and int(value[:-1]) > 100:
        return [invalid(path, go_int_or_string(value), "must not be greater than 100%")]
    return []


# --- labels and selectors -------------------------------------------------------------------


def validate_labels(labels: object, path: str) -> list[Cause]:
    m = string_map(labels)
    if m is None:
        return []
    return [Cause(fe.reason, fe.body, fe.field) for fe in api_validation.validate_labels(m, path)]


def validate_annotations(annotations: object, path: str) -> list[Cause]:
    m = string_map(annotations)
    if m is None:
        return []
    return [
        Cause(fe.reason, fe.body, fe.field) for fe in api_validation.validate_annotations(m, path)
    ]


def validate_qualified_name(path: str, value: str) -> list[Cause]:
    return [invalid(path, value, msg) for msg in api_validation.is_qualified_name(value)]


def validate_dns1123_label(path: str, value: str) -> list[Cause]:
    return [invalid(path, value, msg) for msg in api_validation.is_dns1123_label(value)]


def validate_dns1123_subdomain(path: str, value: str) -> list[Cause]:
    return [invalid(path, value, msg) for msg in api_validation.is_dns1123_subdomain(value)]


def validate_label_selector(selector: object, path: str) -> list[Cause]:
    """``metav1validation.ValidateLabelSelector`` (strict label values)."""
    sel = as_dict(selector)
    if sel is None:
        return []
    errs = validate_labels(sel.get("matchLabels"), child(path, "matchLabels"))
    for i, expr in dicts(sel.get("matchExpressions")):
        p = index(child(path, "matchExpressions"), i)
        op = expr.get("operator")
        values = get_list(expr, "values")
        if op in ("In", "NotIn"):
            if not values:
                errs.append(
                    required(
                        child(p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    )
                )
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    forbidden(
                        child(p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errs.append(
                invalid(child(p, "operator"), str(op or ""), "not a valid selector operator")
            )
        errs += validate_qualified_name(child(p, "key"), get_str(expr, "key"))
        for j, value in enumerate(values):
            if isinstance(value, str):
                errs += [
                    invalid(index(child(p, "values"), j), value, msg)
                    for msg in api_validation.is_valid_label_value(value)
                ]
    return errs


def selector_of(selector: object) -> api_labels.Selector | None:
    """``LabelSelectorAsSelector``; None when the selector cannot be converted."""
    try:
        return api_labels.from_label_selector(selector if isinstance(selector, Mapping) else None)
    except api_labels.SelectorError:
        return None


def selector_is_empty(selector: object) -> bool:
    sel = as_dict(selector) or {}
    return not sel.get("matchLabels") and not sel.get("matchExpressions")
