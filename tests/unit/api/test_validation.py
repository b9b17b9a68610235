"""Name, label and annotation validation with the real server's wording."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.api.validation import (
    NAME_RULES,
    FieldError,
    NameRule,
    Reason,
    go_quote,
    go_sprint,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_label_value,
    name_rule,
    validate_annotations,
    validate_labels,
    validate_object_name,
    validate_path_segment_name,
)

SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("example.com", []),
        ("a", []),
        ("0.0", []),
        ("a" * 253, []),
        ("", [SUBDOMAIN]),
        ("Example.com", [SUBDOMAIN]),
        ("a..b", [SUBDOMAIN]),
        ("-a", [SUBDOMAIN]),
        ("a_b", [SUBDOMAIN]),
        ("a\n", [SUBDOMAIN]),
        ("a" * 254, ["must be no more than 253 characters"]),
        ("A" * 254, ["must be no more than 253 characters", SUBDOMAIN]),
        # Lengths are in bytes, as Go's len().
        ("é" * 127, ["must be no more than 253 characters", SUBDOMAIN]),
    ],
)
def test_is_dns1123_subdomain(value: str, errors: list[str]) -> None:
    assert is_dns1123_subdomain(value) == errors


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("my-name", []),
        ("123-abc", []),
        ("a" * 63, []),
        ("a.b", ["must not contain dots"]),
        ("A", [LABEL]),
        ("", [LABEL]),
        ("a-", [LABEL]),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("a." * 32 + "a", ["must be no more than 63 characters", "must not contain dots"]),
    ],
)
def test_is_dns1123_label(value: str, errors: list[str]) -> None:
    assert is_dns1123_label(value) == errors


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("my-name", []),
        ("abc-123", []),
        ("1abc", [DNS1035]),
        ("a.b", [DNS1035]),
        ("b" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_is_dns1035_label(value: str, errors: list[str]) -> None:
    assert is_dns1035_label(value) == errors


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("MyName", []),
        ("my.name", []),
        ("123-abc", []),
        ("example.com/MyName", []),
        ("app.kubernetes.io/name", []),
        ("", ["name part must be non-empty", NAME_PART]),
        ("_a", [NAME_PART]),
        ("a" * 64, ["name part must be no more than 63 characters"]),
        ("/a", ["prefix part must be non-empty"]),
        ("a/", ["name part must be non-empty", NAME_PART]),
        ("Example.com/a", ["prefix part " + SUBDOMAIN]),
        (
            "a/b/c",
            [
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyName',  or "
                "'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"
            ],
        ),
    ],
)
def test_is_qualified_name(value: str, errors: list[str]) -> None:
    assert is_qualified_name(value) == errors


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("", []),
        ("MyValue", []),
        ("my_value", []),
        ("12345", []),
        ("-a", [LABEL_VALUE]),
        ("a b", [LABEL_VALUE]),
        ("a\n", [LABEL_VALUE]),
        ("v" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_is_valid_label_value(value: str, errors: list[str]) -> None:
    assert is_valid_label_value(value) == errors


@pytest.mark.parametrize(
    ("name", "prefix", "errors"),
    [
        ("admin", False, []),
        ("system:controller:foo", False, []),
        ("Any Thing", False, []),
        ("", False, []),
        (".", False, ["may not be '.'"]),
        ("..", False, ["may not be '..'"]),
        ("..", True, []),
        ("a/b", False, ["may not contain '/'"]),
        ("a%b/", False, ["may not contain '/'", "may not contain '%'"]),
        ("a/b", True, ["may not contain '/'"]),
    ],
)
def test_validate_path_segment_name(name: str, prefix: bool, errors: list[str]) -> None:
    assert validate_path_segment_name(name, prefix) == errors


@pytest.mark.parametrize(
    ("group_resource", "name", "errors"),
    [
        ("pods", "web-0", []),
        ("pods", "web.example", []),
        ("pods", "Web", [SUBDOMAIN]),
        ("configmaps", "kube-root-ca.crt", []),
        ("deployments.apps", "a.b", []),
        ("widgets.example.com", "a.b", []),
        ("widgets.example.com", "A", [SUBDOMAIN]),
        ("namespaces", "kube-system", []),
        ("namespaces", "a.b", ["must not contain dots"]),
        ("services", "1abc", [DNS1035]),
        ("services", "my-svc", []),
        ("statefulsets.apps", "db.x", ["must not contain dots"]),
        ("roles.rbac.authorization.k8s.io", "system:aggregate-to-view", []),
        ("clusterroles.rbac.authorization.k8s.io", "a/b", ["may not contain '/'"]),
        ("apiservices.apiregistration.k8s.io", "v1.apps", []),
        ("certificatesigningrequests.certificates.k8s.io", "Any Name/At All", []),
        ("cronjobs.batch", "c" * 52, []),
        ("cronjobs.batch", "c" * 53, ["must be no more than 52 characters"]),
        ("jobs.batch", "j" * 53, []),
    ],
)
def test_validate_object_name(group_resource: str, name: str, errors: list[str]) -> None:
    assert validate_object_name(group_resource, name) == errors


@pytest.mark.parametrize(
    ("group_resource", "prefix", "errors"),
    [
        # generateName: the trailing dash is masked because a random suffix follows.
        ("pods", "web-", []),
        ("namespaces", "ns-", []),
        ("services", "svc-", []),
        ("pods", "Web-", [SUBDOMAIN]),
        ("roles.rbac.authorization.k8s.io", "..", []),
        ("cronjobs.batch", "c" * 60 + "-", []),
    ],
)
def test_validate_generate_name(group_resource: str, prefix: str, errors: list[str]) -> None:
    assert validate_object_name(group_resource, prefix, prefix=True) == errors


def test_name_rules_table() -> None:
    assert name_rule("services") is NameRule.DNS1035_LABEL
    assert name_rule("secrets") is NameRule.DNS1123_SUBDOMAIN
    assert name_rule("foos.example.com") is NameRule.DNS1123_SUBDOMAIN
    assert all(isinstance(rule, NameRule) for rule in NAME_RULES.values())


def test_validate_labels() -> None:
    assert validate_labels({"app": "web", "example.com/tier": ""}) == []
    assert validate_labels(None) == []
    errors = validate_labels({"a b": "c d"}, "spec.template.metadata.labels")
    assert [str(e) for e in errors] == [
        f'spec.template.metadata.labels: Invalid value: "a b": {NAME_PART}',
        f'spec.template.metadata.labels: Invalid value: "c d": {LABEL_VALUE}',
    ]
    assert errors[0].to_cause() == {
        "reason": "FieldValueInvalid",
        "message": f'Invalid value: "a b": {NAME_PART}',
        "field": "spec.template.metadata.labels",
    }
    assert errors[0].message == NAME_PART


def test_validate_annotations() -> None:
    assert validate_annotations({"Example.com/Key": "anything at all\n"}) == []
    assert validate_annotations(None) == []
    assert [str(e) for e in validate_annotations({"a b": "x"})] == [
        f'metadata.annotations: Invalid value: "a b": {NAME_PART}'
    ]
    # Exactly at the limit is fine; one byte more is not (keys count too).
    at_limit = {"k": "v" * (262144 - 1)}
    assert validate_annotations(at_limit) == []
    errors = validate_annotations({"k": "v" * 262144})
    assert errors == [
        FieldError("metadata.annotations", "", "must have at most 262144 bytes", Reason.TOO_LONG)
    ]
    assert str(errors[0]) == "metadata.annotations: Too long: must have at most 262144 bytes"


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (FieldError("f", "x", "bad"), 'f: Invalid value: "x": bad'),
        (FieldError("f", 3, "bad"), "f: Invalid value: 3: bad"),
        (FieldError("f", True, "bad"), "f: Invalid value: true: bad"),
        (FieldError("f", 1.5, "bad"), "f: Invalid value: 1.5: bad"),
        (FieldError("f", None, "bad"), "f: Invalid value: null: bad"),
        (FieldError("f", ["a", "<"], "bad"), 'f: Invalid value: ["a","\\u003c"]: bad'),
        (FieldError("f", {"b": 1, "a": 2}, "bad"), 'f: Invalid value: {"a":2,"b":1}: bad'),
        (FieldError("f", "x", "", Reason.REQUIRED), "f: Required value"),
        (FieldError("f", "x", "must be set", Reason.FORBIDDEN), "f: Forbidden: must be set"),
        (FieldError("f", "x", "", Reason.NOT_SUPPORTED), 'f: Unsupported value: "x"'),
        (FieldError("f", "x", "", "Weird"), 'f: <unknown error "Weird">'),
    ],
)
def test_field_error_rendering(error: FieldError, text: str) -> None:
    assert str(error) == text


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("abc", '"abc"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("tab\there\n", '"tab\\there\\n"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("é ü 日本", '"é ü 日本"'),
        ("\u00a0\u200b", '"\\u00a0\\u200b"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("\udcff", '"\\xff"'),
        ("\ud800", '"\\xed\\xa0\\x80"'),
    ],
)
def test_go_quote(value: str, quoted: str) -> None:
    assert go_quote(value) == quoted


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "<nil>"),
        ("s", "s"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-7, "-7"),
        (1.5, "1.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (123456789.0, "1.23456789e+08"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5e-7, "-2.5e-07"),
        (1e21, "1e+21"),
        (0.0, "0"),
        (-0.0, "-0"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
        ([1, "a"], "[1 a]"),
        ({"b": 1, "a": [True]}, "map[a:[true] b:1]"),
    ],
)
def test_go_sprint(value: object, text: str) -> None:
    assert go_sprint(value) == text


# --- properties -----------------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)


@given(_label)
def test_generated_dns_labels_are_valid(value: str) -> None:
    assert is_dns1123_label(value) == []
    assert is_dns1123_subdomain(value) == []


@given(st.lists(_label, min_size=1, max_size=6).map(".".join))
def test_generated_subdomains_are_valid_when_short_enough(value: str) -> None:
    assert (is_dns1123_subdomain(value) == []) is (len(value) <= 253)


_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUALIFIED_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


@given(st.text(alphabet=st.sampled_from([*"abzAZ09-_./ \n", "é"]), max_size=80))
def test_validators_agree_with_their_definitions(value: str) -> None:
    size = len(value.encode())
    valid_subdomain = size <= 253 and _SUBDOMAIN_RE.fullmatch(value) is not None
    assert (is_dns1123_subdomain(value) == []) is valid_subdomain
    valid_value = size <= 63 and (value == "" or _QUALIFIED_RE.fullmatch(value) is not None)
    assert (is_valid_label_value(value) == []) is valid_value
    parts = value.split("/")
    name = parts[-1]
    valid_key = (
        len(parts) <= 2
        and len(name.encode()) <= 63
        and _QUALIFIED_RE.fullmatch(name) is not None
        and (len(parts) == 1 or (parts[0] != "" and is_dns1123_subdomain(parts[0]) == []))
    )
    assert (is_qualified_name(value) == []) is valid_key


@given(st.text())
def test_validators_never_raise(value: str) -> None:
    for check in (
        is_dns1123_label,
        is_dns1123_subdomain,
        is_dns1035_label,
        is_qualified_name,
        is_valid_label_value,
        validate_path_segment_name,
    ):
        assert all(isinstance(message, str) for message in check(value))
    assert go_quote(value).startswith('"')
    assert isinstance(validate_object_name("pods", value, prefix=True), list)
