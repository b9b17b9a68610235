"""Which webhooks a request goes to (``ShouldCallHook``): exempt kinds, ``rules``,
``namespaceSelector``, ``objectSelector`` and ``matchConditions``.

Behaviour carried over from kube-apiserver:

* Objects of the admissionregistration configuration kinds never go to webhooks, so a broken
  webhook cannot lock out its own repair (``rules.IsExemptAdmissionConfigurationResource``).
* ``namespaceSelector`` never exempts cluster-scoped objects; a Namespace is matched on its
  own labels; a namespaced request without namespace labels is the real server's 404
  ``namespaces "<ns>" not found``. ``objectSelector`` matches the new or the old object.
* Selector or ``matchConditions`` errors count only for webhooks whose rules apply; a
  ``matchConditions`` error is 403 Forbidden under ``Fail`` and skips the webhook under
  ``Ignore``, while any condition evaluating to false skips it.
* ``matchPolicy`` needs no work: we serve one version per resource, so Equivalent == Exact.

Design choice: ``matchConditions`` are evaluated with cel-python (variables ``object``,
``oldObject``, ``request``; ``authorizer`` is not offered); a :class:`Matcher` compiles each
expression once and keeps the program.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.api.labels import from_label_selector
from pilothouse.api.validation import go_quote
from pilothouse.apiserver.admission.attributes import Attributes, Hook
from pilothouse.apiserver.admission.errors import internal
from pilothouse.apiserver.admission.review import admission_request
from pilothouse.apiserver.errors import ApiError, forbidden, not_found
from pilothouse.apiserver.resources import ResourceType

try:
    import celpy
    from celpy.adapter import json_to_cel
    from celpy.celtypes import BoolType

    _CEL_ENV: Any = celpy.Environment()
except ImportError:  # pragma: no cover - cel-python is a declared dependency
    _CEL_ENV = None


# Admission configuration kinds never go to webhooks, so a broken webhook cannot lock out
# its own repair (rules.IsExemptAdmissionConfigurationResource).
_EXEMPT_KINDS = frozenset(
    {
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    }
)


def _labels_of(obj: Mapping[str, Any] | None) -> Mapping[str, str] | None:
    if obj is None:
        return None
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


def _is_empty_selector(selector: Any) -> bool:
    return not selector or not (selector.get("matchLabels") or selector.get("matchExpressions"))


def _selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    try:
        return from_label_selector(selector).matches(labels)
    except ApiError:
        raise
    except Exception as e:
        raise internal(str(e)) from e


def _is_namespace_resource(r: ResourceType) -> bool:
    return r.group == "" and r.version == "v1" and r.plural == "namespaces"


def _namespace_matches(spec: Mapping[str, Any], attrs: Attributes) -> bool:
    r = attrs.resource
    if not attrs.namespace and r.plural != "namespaces":
        return True  # cluster-scoped objects are never exempted by a namespace selector
    selector = spec.get("namespaceSelector")
    if _is_empty_selector(selector):
        return True
    labels = attrs.namespace_labels
    if labels is None and r.plural == "namespaces":
        creating = attrs.operation in ("CREATE", "UPDATE") and not attrs.subresource
        labels = _labels_of(attrs.obj if creating else attrs.old_obj)
    if labels is None:
        # The real server looks the namespace up and answers its 404 when it is missing.
        raise not_found("namespaces", attrs.namespace or attrs.name)
    return _selector_matches(selector, labels)


def _object_matches(spec: Mapping[str, Any], attrs: Attributes) -> bool:
    selector = spec.get("objectSelector")
    if _is_empty_selector(selector):
        return True
    return any(
        labels is not None and _selector_matches(selector, labels)
        for labels in (_labels_of(attrs.obj), _labels_of(attrs.old_obj))
    )


def _listed(items: Any, value: str) -> bool:
    return any(item in ("*", value) for item in items or ())


def rule_matches(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    """Whether one ``RuleWithOperations`` covers the request (``rules.Matcher``)."""
    r = attrs.resource
    scope = rule.get("scope") or "*"
    if scope == "Namespaced" and (_is_namespace_resource(r) or not attrs.namespace):
        return False
    if scope == "Cluster" and not (_is_namespace_resource(r) or not attrs.namespace):
        return False
    if scope not in ("*", "Namespaced", "Cluster"):
        return False
    if not (
        _listed(rule.get("operations"), attrs.operation)
        and _listed(rule.get("apiGroups"), r.group)
        and _listed(rule.get("apiVersions"), r.version)
    ):
        return False
    for entry in rule.get("resources") or ():
        res, _, sub = str(entry).partition("/")
        if res in ("*", r.plural) and sub in ("*", attrs.subresource):
            return True
    return False


def is_exempt(attrs: Attributes) -> bool:
    """Whether the request's kind never goes to webhooks."""
    r = attrs.resource
    return r.group == "admissionregistration.k8s.io" and r.kind in _EXEMPT_KINDS


class Matcher:
    """Decides whether a webhook is called for a request; caches compiled CEL programs."""

    def __init__(self) -> None:
        self._cel: dict[str, Any] = {}

    def should_call(self, hook: Hook, attrs: Attributes) -> bool:
        """``ShouldCallHook``: selectors, rules, then match conditions."""
        spec = hook.spec
        ns_error: ApiError | None = None
        try:
            if not _namespace_matches(spec, attrs):
                return False
        except ApiError as e:
            ns_error = e
        obj_error: ApiError | None = None
        try:
            if not _object_matches(spec, attrs):
                return False
        except ApiError as e:
            obj_error = e
        if not any(rule_matches(rule, attrs) for rule in spec.get("rules") or ()):
            return False  # errors only count for webhooks that apply to the request
        if ns_error is not None:
            raise ns_error
        if obj_error is not None:
            raise obj_error
        return self._match_conditions(hook, attrs)

    def _match_conditions(self, hook: Hook, attrs: Attributes) -> bool:
        conditions = hook.spec.get("matchConditions") or ()
        if not conditions:
            return True
        activation: dict[str, Any] | None = None
        errors: list[str] = []
        for condition in conditions:
            expression = str(condition.get("expression", ""))
            try:
                if _CEL_ENV is None:
                    raise RuntimeError("matchConditions need cel-python, which is not installed")
                if activation is None:
                    request = admission_request(attrs, "")
                    activation = {
                        "object": json_to_cel(attrs.obj),
                        "oldObject": json_to_cel(attrs.old_obj),
                        "request": json_to_cel(
                            {k: v for k, v in request.items() if k not in ("object", "oldObject")}
                        ),
                    }
                result = self._cel_program(expression).evaluate(activation)
                if isinstance(result, Exception):
                    raise result
                if not isinstance(result, BoolType):
                    raise TypeError(f"expected bool, got {type(result).__name__}")
            except Exception as e:
                detail = e.args[0] if e.args else e
                errors.append(f"expression '{expression}' resulted in error: {detail}")
                continue
            if not result:
                return False  # any false condition skips the webhook, errors or not
        if not errors:
            return True
        if hook.ignore_failures:
            return False
        detail = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
        r = attrs.resource
        target = f"{r.group_resource} {go_quote(attrs.name)}" if attrs.name else r.group_resource
        raise forbidden(f"{target} is forbidden: {detail}", r.plural, attrs.name, r.group)

    def _cel_program(self, expression: str) -> Any:
        program = self._cel.get(expression)
        if program is None:
            program = _CEL_ENV.program(_CEL_ENV.compile(expression))
            self._cel[expression] = program
        return program
