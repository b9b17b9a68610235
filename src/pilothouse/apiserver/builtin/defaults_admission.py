"""Defaults of admission configuration and CustomResourceDefinitions.

Webhooks follow ``pkg/apis/admissionregistration/v1/defaults.go``: ``failurePolicy: Fail``,
``matchPolicy: Equivalent``, empty (match-all) namespace and object selectors,
``timeoutSeconds: 10``, ``reinvocationPolicy: Never`` for mutating webhooks, rule scope
``*`` and service port 443. In v1 ``sideEffects`` and ``admissionReviewVersions`` have no
default (they were defaulted in v1beta1): validation requires them.

ValidatingAdmissionPolicies and their bindings default ``failurePolicy`` and their match
resources the same way.

CRDs follow ``apiextensions/v1/defaults.go`` (singular and list kind from the kind,
``conversion.strategy: None``, webhook service port 443). ``status.storedVersions`` gets the
storage version, as the defaulter does on create and the CRD strategy does on every update
that introduces a new storage version -- the REST layer carries the old status over before
defaulting, so appending here covers both.
"""

from __future__ import annotations

from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    dicts,
    ensure_dict,
    get_dict,
    set_if_empty,
    set_if_none,
)


def default_validatingwebhookconfigurations(obj: Obj) -> None:
    for _, hook in dicts(obj.get("webhooks")):
        _default_webhook(hook)


def default_mutatingwebhookconfigurations(obj: Obj) -> None:
    for _, hook in dicts(obj.get("webhooks")):
        _default_webhook(hook)
        set_if_none(hook, "reinvocationPolicy", "Never")


def _default_webhook(hook: Obj) -> None:
    set_if_none(hook, "failurePolicy", "Fail")
    set_if_none(hook, "matchPolicy", "Equivalent")
    set_if_none(hook, "namespaceSelector", {})
    set_if_none(hook, "objectSelector", {})
    set_if_none(hook, "timeoutSeconds", 10)
    for _, rule in dicts(hook.get("rules")):
        set_if_none(rule, "scope", "*")
    service = get_dict(hook, "clientConfig", "service")
    if service is not None:
        set_if_none(service, "port", 443)


def _default_match_resources(match: Obj | None) -> None:
    if match is None:
        return
    set_if_none(match, "matchPolicy", "Equivalent")
    set_if_none(match, "namespaceSelector", {})
    set_if_none(match, "objectSelector", {})
    for rules in ("resourceRules", "excludeResourceRules"):
        for _, rule in dicts(match.get(rules)):
            set_if_none(rule, "scope", "*")


def default_validatingadmissionpolicies(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    set_if_none(spec, "failurePolicy", "Fail")
    _default_match_resources(as_dict(spec.get("matchConstraints")))


def default_validatingadmissionpolicybindings(obj: Obj) -> None:
    _default_match_resources(get_dict(obj, "spec", "matchResources"))


def default_customresourcedefinitions(obj: Obj) -> None:
    spec = ensure_dict(obj, "spec")
    if spec is None:
        return
    names = ensure_dict(spec, "names")
    if names is not None:
        kind = names.get("kind")
        if isinstance(kind, str) and kind:
            set_if_empty(names, "singular", kind.lower())
            set_if_empty(names, "listKind", kind + "List")
    set_if_none(spec, "conversion", {"strategy": "None"})
    service = get_dict(spec, "conversion", "webhook", "clientConfig", "service")
    if service is not None:
        set_if_none(service, "port", 443)
    storage = next(
        (v.get("name") for _, v in dicts(spec.get("versions")) if v.get("storage") is True),
        None,
    )
    if isinstance(storage, str) and storage:
        status = ensure_dict(obj, "status")
        if status is not None:
            stored = status.get("storedVersions")
            if not isinstance(stored, list):
                stored = []
            if storage not in stored:
                status["storedVersions"] = [*stored, storage]
