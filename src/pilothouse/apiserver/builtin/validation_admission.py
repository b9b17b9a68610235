"""Validation of validating and mutating webhook configurations (admissionregistration/v1).

Per webhook: a fully qualified name (a DNS subdomain with at least three segments), unique
within the configuration; rules (operations, API groups/versions, resources and their
wildcard combinations, scope); failure/match/reinvocation policies; ``sideEffects``
(required -- v1 has no default -- and, for new configurations, ``None`` or
``NoneOnDryRun``); a timeout of 1-30 seconds; label selectors; ``clientConfig`` with
exactly one of ``url`` (https, host, no user info/query/fragment) or ``service``; and
``admissionReviewVersions`` including ``v1`` or ``v1beta1``.

As upstream, an update only enforces the "new" rules (no side effects, recognised review
versions, unique names) when the stored configuration already satisfied them, so old
objects stay editable. One upstream quirk is kept on purpose: the service reference's
name and namespace are passed to the checker swapped, so a missing service *name* is
reported at ``service.namespace`` and vice versa.

Match conditions are checked for presence and names; their CEL is not compiled.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pilothouse.api import validation as api_validation
from pilothouse.apiserver.builtin._rules import (
    is_fully_qualified_name,
    is_valid_port_num,
    validate_label_selector,
    validate_qualified_name,
)
from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    child,
    dicts,
    duplicate,
    get_list,
    get_str,
    go_string_slice,
    index,
    invalid,
    is_int,
    not_supported,
    required,
)
from pilothouse.apiserver.errors import Cause

FAILURE_POLICIES = ("Fail", "Ignore")
MATCH_POLICIES = ("Equivalent", "Exact")
REINVOCATION_POLICIES = ("IfNeeded", "Never")
ALL_SIDE_EFFECTS = ("None", "NoneOnDryRun", "Some", "Unknown")
NO_SIDE_EFFECTS = ("None", "NoneOnDryRun")
OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
SCOPES = ("*", "Cluster", "Namespaced")
REVIEW_VERSIONS = ("v1", "v1beta1")
_URL_FORM = "; desired format: https://host[/path]"


def validate_validatingwebhookconfigurations(obj: Obj, old: Obj | None) -> list[Cause]:
    return _validate_configuration(obj, old, mutating=False)


def validate_mutatingwebhookconfigurations(obj: Obj, old: Obj | None) -> list[Cause]:
    return _validate_configuration(obj, old, mutating=True)


def _validate_configuration(obj: Obj, old: Obj | None, *, mutating: bool) -> list[Cause]:
    old_hooks = [h for _, h in dicts(old.get("webhooks"))] if old is not None else None
    strict_side_effects = old_hooks is None or all(
        h.get("sideEffects") in NO_SIDE_EFFECTS for h in old_hooks
    )
    strict_versions = old_hooks is None or all(
        not get_list(h, "admissionReviewVersions")
        or any(v in REVIEW_VERSIONS for v in get_list(h, "admissionReviewVersions"))
        for h in old_hooks
    )
    old_names = [get_str(h, "name") for h in old_hooks or []]
    strict_names = old_hooks is None or len(set(old_names)) == len(old_names)
    errs: list[Cause] = []
    names: set[str] = set()
    for i, hook in dicts(obj.get("webhooks")):
        path = index("webhooks", i)
        errs += _validate_webhook(hook, path, mutating, strict_side_effects)
        errs += _validate_review_versions(
            get_list(hook, "admissionReviewVersions"),
            strict_versions,
            child(path, "admissionReviewVersions"),
        )
        name = get_str(hook, "name")
        if strict_names and name:
            if name in names:
                errs.append(duplicate(child(path, "name"), name))
            names.add(name)
    return errs


def _validate_webhook(hook: Obj, path: str, mutating: bool, strict: bool) -> list[Cause]:
    errs = is_fully_qualified_name(child(path, "name"), get_str(hook, "name"))
    for i, rule in dicts(hook.get("rules")):
        errs += _validate_rule(rule, index(child(path, "rules"), i))
    for field, allowed in (("failurePolicy", FAILURE_POLICIES), ("matchPolicy", MATCH_POLICIES)):
        value = hook.get(field)
        if value is not None and value not in allowed:
            errs.append(not_supported(child(path, field), value, allowed))
    side_effects_allowed = NO_SIDE_EFFECTS if strict else ALL_SIDE_EFFECTS
    side_effects = hook.get("sideEffects")
    if side_effects is None:
        detail = "must specify one of " + ", ".join(side_effects_allowed)
        errs.append(required(child(path, "sideEffects"), detail))
    elif side_effects not in side_effects_allowed:
        errs.append(not_supported(child(path, "sideEffects"), side_effects, side_effects_allowed))
    timeout = hook.get("timeoutSeconds")
    if is_int(timeout) and not 1 <= timeout <= 30:
        detail = "the timeout value must be between 1 and 30 seconds"
        errs.append(invalid(child(path, "timeoutSeconds"), timeout, detail))
    for selector in ("namespaceSelector", "objectSelector"):
        errs += validate_label_selector(hook.get(selector), child(path, selector))
    reinvocation = hook.get("reinvocationPolicy")
    if mutating and reinvocation is not None and reinvocation not in REINVOCATION_POLICIES:
        errs.append(
            not_supported(child(path, "reinvocationPolicy"), reinvocation, REINVOCATION_POLICIES)
        )
    errs += validate_client_config(
        as_dict(hook.get("clientConfig")) or {}, child(path, "clientConfig")
    )
    errs += _validate_match_conditions(hook.get("matchConditions"), child(path, "matchConditions"))
    return errs


def _validate_rule(rule: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    operations = get_list(rule, "operations")
    if not operations:
        errs.append(required(child(path, "operations")))
    if len(operations) > 1 and "*" in operations:
        detail = "if '*' is present, must not specify other operations"
        value = go_string_slice([str(o) for o in operations], "admissionregistration.OperationType")
        errs.append(invalid(child(path, "operations"), value, detail))
    for i, operation in enumerate(operations):
        if operation not in OPERATIONS:
            errs.append(not_supported(index(child(path, "operations"), i), operation, OPERATIONS))
    for field, noun in (("apiGroups", "API groups"), ("apiVersions", "API versions")):
        values = get_list(rule, field)
        if not values:
            errs.append(required(child(path, field)))
        if len(values) > 1 and "*" in values:
            detail = f"if '*' is present, must not specify other {noun}"
            errs.append(
                invalid(child(path, field), go_string_slice([str(v) for v in values]), detail)
            )
    for i, version in enumerate(get_list(rule, "apiVersions")):
        if version == "":
            errs.append(required(index(child(path, "apiVersions"), i)))
    errs += _validate_resources(get_list(rule, "resources"), child(path, "resources"))
    scope = rule.get("scope")
    if scope is not None and scope not in SCOPES:
        errs.append(not_supported(child(path, "scope"), scope, SCOPES))
    return errs


def _validate_resources(resources: list[object], path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not resources:
        errs.append(required(path))
    wildcard_subresources: set[str] = set()
    wildcard_resources: set[str] = set()
    double = single = plain = False
    for i, entry in enumerate(resources):
        res_sub = str(entry)
        if res_sub == "":
            errs.append(required(index(path, i)))
            continue
        double = double or res_sub == "*/*"
        single = single or res_sub == "*"
        if "/" not in res_sub:
            plain = res_sub != "*"
            continue
        res, sub = res_sub.split("/", 1)
        if res in wildcard_subresources:
            detail = f"if '{res}/*' is present, must not specify {res_sub}"
            errs.append(invalid(index(path, i), res_sub, detail))
        if sub in wildcard_resources:
            detail = f"if '*/{sub}' is present, must not specify {res_sub}"
            errs.append(invalid(index(path, i), res_sub, detail))
        if sub == "*":
            wildcard_subresources.add(res)
        if res == "*":
            wildcard_resources.add(sub)
    value = go_string_slice([str(r) for r in resources])
    if len(resources) > 1 and double:
        errs.append(invalid(path, value, "if '*/*' is present, must not specify other resources"))
    if single and plain:
        detail = "if '*' is present, must not specify other resources without subresources"
        errs.append(invalid(path, value, detail))
    return errs


def _validate_review_versions(versions: list[object], strict: bool, path: str) -> list[Cause]:
    if not versions:
        return [required(path, "must specify one of " + ", ".join(REVIEW_VERSIONS))]
    errs: list[Cause] = []
    seen: set[str] = set()
    for i, version in enumerate(str(v) for v in versions):
        if version in seen:
            errs.append(invalid(index(path, i), version, "duplicate version"))
            continue
        seen.add(version)
        errs += [
            invalid(index(path, i), version, m) for m in api_validation.is_dns1035_label(version)
        ]
    if strict and not seen & set(REVIEW_VERSIONS):
        detail = "must include at least one of " + ", ".join(REVIEW_VERSIONS)
        errs.append(invalid(path, go_string_slice([str(v) for v in versions]), detail))
    return errs


def validate_client_config(config: Obj, path: str) -> list[Cause]:
    """A webhook ``clientConfig`` (also used for CRD conversion webhooks)."""
    url, service = config.get("url"), as_dict(config.get("service"))
    if (url is None) == (service is None):
        return [required(path, "exactly one of url or service is required")]
    if url is not None:
        return validate_webhook_url(str(url), child(path, "url"))
    assert service is not None
    errs: list[Cause] = []
    sp = child(path, "service")
    # Upstream passes (name, namespace) into a (namespace, name) parameter list.
    if not get_str(service, "namespace"):
        errs.append(required(child(sp, "name")))
    if not get_str(service, "name"):
        errs.append(required(child(sp, "namespace")))
    port = service.get("port", 443)
    for msg in is_valid_port_num(port):
        errs.append(invalid(child(sp, "port"), port, "port is not valid: " + msg))
    svc_path = service.get("path")
    if isinstance(svc_path, str):
        errs += _validate_service_path(svc_path, child(sp, "path"))
    return errs


def validate_webhook_url(url: str, path: str) -> list[Cause]:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return [required(path, f"url must be a valid URL: {exc}{_URL_FORM}")]
    errs: list[Cause] = []
    if parts.scheme != "https":
        errs.append(
            invalid(path, parts.scheme, "'https' is the only allowed URL scheme" + _URL_FORM)
        )
    host = parts.netloc.rpartition("@")[2]
    if not host:
        errs.append(invalid(path, host, "host must be specified" + _URL_FORM))
    if "@" in parts.netloc:
        errs.append(
            invalid(
                path,
                parts.netloc.rpartition("@")[0],
                "user information is not permitted in the URL",
            )
        )
    if parts.fragment:
        errs.append(invalid(path, parts.fragment, "fragments are not permitted in the URL"))
    if parts.query:
        errs.append(invalid(path, parts.query, "query parameters are not permitted in the URL"))
    return errs


def _validate_service_path(url_path: str, path: str) -> list[Cause]:
    if url_path in ("", "/"):
        return []
    if url_path == "//":
        return [invalid(path, url_path, "segment[0] may not be empty")]
    errs: list[Cause] = []
    if not url_path.startswith("/"):
        errs.append(invalid(path, url_path, "must start with a '/'"))
    for i, step in enumerate(url_path[1:].removesuffix("/").split("/")):
        if not step:
            errs.append(invalid(path, url_path, f"segment[{i}] may not be empty"))
            continue
        errs += [
            invalid(path, url_path, f"segment[{i}]: {m}")
            for m in api_validation.is_dns1123_subdomain(step)
        ]
    return errs


def _validate_match_conditions(conditions: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    names: set[str] = set()
    for i, condition in dicts(conditions):
        p = index(path, i)
        name = get_str(condition, "name")
        if not name:
            errs.append(required(child(p, "name")))
        else:
            errs += validate_qualified_name(child(p, "name"), name)
            if name in names:
                errs.append(duplicate(child(p, "name"), name))
            names.add(name)
        if not get_str(condition, "expression"):
            errs.append(required(child(p, "expression")))
    return errs
