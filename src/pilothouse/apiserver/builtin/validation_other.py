"""Validation of the smaller built-in groups: coordination (Lease), autoscaling (HPA v2),
policy (PodDisruptionBudget), storage (StorageClass), scheduling (PriorityClass) and RBAC.

Each follows its group's ``pkg/apis/<group>/validation``. HPA metric checks cover the
metric source types and resource metric targets; object, pods and external metric details
(their metric identifiers and selectors) are only checked for presence.
"""

from __future__ import annotations

from pilothouse.api import quantity as _quantity
from pilothouse.api import validation as api_validation
from pilothouse.apiserver.builtin._rules import (
    not_more_than_100_percent,
    validate_label_selector,
    validate_positive_int_or_percent,
    validate_qualified_name,
)
from pilothouse.apiserver.builtin._util import (
    GoValue,
    Obj,
    as_dict,
    child,
    dicts,
    forbidden,
    get_list,
    get_str,
    go_string_slice,
    go_struct,
    immutable,
    index,
    invalid,
    is_int,
    not_supported,
    required,
    semantic_equal,
    too_long,
)
from pilothouse.apiserver.builtin.defaults_pod import SYSTEM_PRIORITIES
from pilothouse.apiserver.errors import Cause

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
RBAC_GROUP = "rbac.authorization.k8s.io"
METRIC_SOURCE_TYPES = ("Object", "Pods", "Resource", "External", "ContainerResource")
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600


def validate_leases(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs: list[Cause] = []
    duration = spec.get("leaseDurationSeconds")
    if is_int(duration) and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if is_int(transitions) and transitions < 0:
        errs.append(
            invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
        )
    if spec.get("preferredHolder") and not spec.get("strategy"):
        errs.append(
            forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined")
        )
    return errs


def validate_horizontalpodautoscalers(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs: list[Cause] = []
    min_replicas, max_replicas = spec.get("minReplicas"), spec.get("maxReplicas")
    if is_int(min_replicas) and min_replicas < 1:
        errs.append(invalid("spec.minReplicas", min_replicas, "must be greater than or equal to 1"))
    max_value = max_replicas if is_int(max_replicas) else 0
    if max_value < 1:
        errs.append(invalid("spec.maxReplicas", max_value, "must be greater than 0"))
    if is_int(min_replicas) and max_value < min_replicas:
        detail = "must be greater than or equal to `minReplicas`"
        errs.append(invalid("spec.maxReplicas", max_value, detail))
    ref = as_dict(spec.get("scaleTargetRef")) or {}
    for field in ("kind", "name"):
        value = get_str(ref, field)
        path = child("spec.scaleTargetRef", field)
        if not value:
            errs.append(required(path))
        else:
            errs += [
                invalid(path, value, m) for m in api_validation.validate_path_segment_name(value)
            ]
    for i, metric in dicts(spec.get("metrics")):
        errs += _validate_metric(metric, index("spec.metrics", i))
    behavior = as_dict(spec.get("behavior"))
    if behavior is not None:
        for direction in ("scaleUp", "scaleDown"):
            rules = as_dict(behavior.get(direction))
            if rules is not None:
                errs += _validate_scaling_rules(rules, child("spec.behavior", direction))
    return errs


def _validate_metric(metric: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    metric_type = metric.get("type")
    if not metric_type:
        errs.append(required(child(path, "type"), "must specify a metric source type"))
    fields = {"Object": "object", "Pods": "pods", "Resource": "resource", "External": "external"}
    fields["ContainerResource"] = "containerResource"
    expected = fields.get(str(metric_type))
    if expected is None:
        errs.append(not_supported(child(path, "type"), metric_type or "", METRIC_SOURCE_TYPES))
    elif metric.get(expected) is None:
        detail = "must populate information for the given metric source"
        errs.append(required(child(path, expected), detail))
    present = [f for f in fields.values() if metric.get(f) is not None]
    if len(present) != 1:
        for other in present:
            if other != expected:
                errs.append(
                    forbidden(child(path, other), "must populate the given metric source only")
                )
    for source in ("resource", "containerResource"):
        body = as_dict(metric.get(source))
        if body is not None:
            errs += _validate_resource_metric(body, child(path, source))
    return errs


def _validate_resource_metric(source: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not get_str(source, "name"):
        errs.append(required(child(path, "name"), "must specify a resource name"))
    target = as_dict(source.get("target")) or {}
    tp = child(path, "target")
    target_type = target.get("type")
    if not target_type:
        errs.append(required(child(tp, "type"), "must specify a metric target type"))
    if target_type not in ("Utilization", "Value", "AverageValue"):
        detail = "must be either Utilization, Value, or AverageValue"
        errs.append(invalid(child(tp, "type"), str(target_type or ""), detail))
    for field in ("value", "averageValue"):
        if target.get(field) is not None:
            q = _quantity.parse(target[field])
            if q is None or q.value <= 0:
                shown = GoValue(str(q) if q is not None else str(target[field]))
                errs.append(invalid(child(tp, field), shown, "must be positive"))
    utilization = target.get("averageUtilization")
    if is_int(utilization) and utilization < 1:
        errs.append(invalid(child(tp, "averageUtilization"), utilization, "must be greater than 0"))
    if utilization is None and target.get("averageValue") is None:
        detail = "must set either a target raw value or a target utilization"
        errs.append(required(child(tp, "averageUtilization"), detail))
    if utilization is not None and target.get("averageValue") is not None:
        detail = "may not set both a target raw value and a target utilization"
        value = GoValue(str(_quantity.parse(target["averageValue"]) or target["averageValue"]))
        errs.append(invalid(child(tp, "averageValue"), value, detail))
    return errs


def _validate_scaling_rules(rules: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    window = rules.get("stabilizationWindowSeconds")
    if is_int(window) and window < 0:
        errs.append(
            invalid(
                child(path, "stabilizationWindowSeconds"),
                window,
                "must be greater than or equal to zero",
            )
        )
    if is_int(window) and window > MAX_STABILIZATION_WINDOW_SECONDS:
        detail = f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"
        errs.append(invalid(child(path, "stabilizationWindowSeconds"), window, detail))
    select = rules.get("selectPolicy")
    if select is not None and select not in ("Max", "Min", "Disabled"):
        errs.append(not_supported(child(path, "selectPolicy"), select, ("Max", "Min", "Disabled")))
    policies = get_list(rules, "policies")
    if not policies:
        errs.append(required(child(path, "policies"), "must specify at least one Policy"))
    for i, policy in dicts(policies):
        p = index(child(path, "policies"), i)
        if policy.get("type") not in ("Pods", "Percent"):
            errs.append(
                not_supported(child(p, "type"), policy.get("type") or "", ("Pods", "Percent"))
            )
        for field in ("value", "periodSeconds"):
            raw = policy.get(field)
            value = raw if is_int(raw) else 0
            if value <= 0:
                errs.append(invalid(child(p, field), value, "must be greater than zero"))
        period = policy.get("periodSeconds")
        if is_int(period) and period > MAX_PERIOD_SECONDS:
            detail = f"must be less than or equal to {MAX_PERIOD_SECONDS}"
            errs.append(invalid(child(p, "periodSeconds"), period, detail))
    return errs


def validate_poddisruptionbudgets(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs: list[Cause] = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        detail = "minAvailable and maxUnavailable cannot be both set"
        errs.append(invalid("spec", go_struct("policy.PodDisruptionBudgetSpec"), detail))
    for field, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
        if value is not None:
            errs += validate_positive_int_or_percent(child("spec", field), value)
            errs += not_more_than_100_percent(child("spec", field), value)
    errs += validate_label_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        allowed = ("AlwaysAllow", "IfHealthyBudget")
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, allowed))
    return errs


def validate_storageclasses(obj: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    provisioner = get_str(obj, "provisioner")
    if not provisioner:
        errs.append(required("provisioner"))
    else:
        errs += validate_qualified_name("provisioner", provisioner.lower())
    params = as_dict(obj.get("parameters")) or {}
    if len(params) > 512:
        errs.append(too_long("parameters", 512))
    elif sum(len(str(k)) + len(str(v)) for k, v in params.items()) > 256 * 1024:
        errs.append(too_long("parameters", 256 * 1024))
    reclaim = obj.get("reclaimPolicy")
    if reclaim and reclaim not in ("Delete", "Retain"):
        errs.append(not_supported("reclaimPolicy", reclaim, ("Delete", "Retain")))
    mode = obj.get("volumeBindingMode")
    if mode is None:
        errs.append(required("volumeBindingMode"))
    elif mode not in ("Immediate", "WaitForFirstConsumer"):
        errs.append(not_supported("volumeBindingMode", mode, ("Immediate", "WaitForFirstConsumer")))
    if old is not None:
        for field in ("parameters", "provisioner", "reclaimPolicy"):
            if not semantic_equal(obj.get(field), old.get(field)):
                errs.append(forbidden(field, f"updates to {field} are forbidden."))
        if obj.get("volumeBindingMode") != old.get("volumeBindingMode"):
            errs.append(immutable("volumeBindingMode", obj.get("volumeBindingMode")))
    return errs


def validate_priorityclasses(obj: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    name = get_str(as_dict(obj.get("metadata")), "name")
    value = obj.get("value")
    if name.startswith("system-"):
        known = SYSTEM_PRIORITIES.get(name)
        reason = None
        if known is None:
            reason = f"{name} is not a known system priority class"
        elif value != known:
            reason = f"value of {name} PriorityClass must be {known}"
        if reason is not None:
            detail = (
                "priority class names with 'system-' prefix are reserved for system use only. "
                f"error: {reason}"
            )
            errs.append(forbidden("metadata.name", detail))
    elif is_int(value) and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        detail = (
            f"maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
        )
        errs.append(forbidden("value", detail))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in ("PreemptLowerPriority", "Never"):
        errs.append(not_supported("preemptionPolicy", policy, ("PreemptLowerPriority", "Never")))
    if old is not None:
        if value != old.get("value"):
            errs.append(forbidden("value", "may not be changed in an update."))
        if policy != old.get("preemptionPolicy"):
            errs.append(immutable("preemptionPolicy", policy))
    return errs


def _validate_rules(obj: Obj, namespaced: bool) -> list[Cause]:
    errs: list[Cause] = []
    for i, rule in dicts(obj.get("rules")):
        p = index("rules", i)
        if not get_list(rule, "verbs"):
            errs.append(required(child(p, "verbs"), "verbs must contain at least one value"))
        urls = get_list(rule, "nonResourceURLs")
        if urls:
            value = go_string_slice([str(u) for u in urls])
            if namespaced:
                detail = "namespaced rules cannot apply to non-resource URLs"
                errs.append(invalid(child(p, "nonResourceURLs"), value, detail))
            if (
                get_list(rule, "apiGroups")
                or get_list(rule, "resources")
                or get_list(rule, "resourceNames")
            ):
                detail = "rules cannot apply to both regular resources and non-resource URLs"
                errs.append(invalid(child(p, "nonResourceURLs"), value, detail))
            continue
        if not get_list(rule, "apiGroups"):
            detail = "resource rules must supply at least one api group"
            errs.append(required(child(p, "apiGroups"), detail))
        if not get_list(rule, "resources"):
            errs.append(
                required(child(p, "resources"), "resource rules must supply at least one resource")
            )
    return errs


def validate_roles(obj: Obj, old: Obj | None) -> list[Cause]:
    return _validate_rules(obj, namespaced=True)


def validate_clusterroles(obj: Obj, old: Obj | None) -> list[Cause]:
    errs = _validate_rules(obj, namespaced=False)
    aggregation = as_dict(obj.get("aggregationRule"))
    if aggregation is not None:
        selectors = get_list(aggregation, "clusterRoleSelectors")
        path = "aggregationRule.clusterRoleSelectors"
        if not selectors:
            detail = "at least one clusterRoleSelector required if aggregationRule is non-nil"
            errs.append(required(path, detail))
        for i, selector in enumerate(selectors):
            errs += validate_label_selector(selector, index(path, i))
    return errs


def _validate_binding(obj: Obj, old: Obj | None, namespaced: bool) -> list[Cause]:
    errs: list[Cause] = []
    ref = as_dict(obj.get("roleRef")) or {}
    if ref.get("apiGroup") != RBAC_GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [RBAC_GROUP]))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    name = get_str(ref, "name")
    if not name:
        errs.append(required("roleRef.name"))
    else:
        errs += [
            invalid("roleRef.name", name, m)
            for m in api_validation.validate_path_segment_name(name)
        ]
    for i, subject in dicts(obj.get("subjects")):
        errs += _validate_subject(subject, namespaced, index("subjects", i))
    if old is not None:
        old_ref = as_dict(old.get("roleRef")) or {}
        if any(ref.get(k) != old_ref.get(k) for k in ("apiGroup", "kind", "name")):
            fields = ", ".join(
                f"{go_name}:{_q(ref, name)}"
                for go_name, name in (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name"))
            )
            value = GoValue(f"rbac.RoleRef{{{fields}}}")
            errs.append(invalid("roleRef", value, "cannot change roleRef"))
    return errs


def _q(obj: Obj, field: str) -> str:
    return api_validation.go_quote(get_str(obj, field))


def _validate_subject(subject: Obj, namespaced: bool, path: str) -> list[Cause]:
    errs: list[Cause] = []
    name = get_str(subject, "name")
    if not name:
        errs.append(required(child(path, "name")))
    kind = subject.get("kind")
    api_group = get_str(subject, "apiGroup")
    if kind == "ServiceAccount":
        if name:
            msgs = api_validation.is_dns1123_subdomain(name)
            errs += [invalid(child(path, "name"), name, m) for m in msgs]
        if api_group:
            errs.append(not_supported(child(path, "apiGroup"), api_group, [""]))
        if not namespaced and not get_str(subject, "namespace"):
            errs.append(required(child(path, "namespace")))
    elif kind in ("User", "Group"):
        if api_group != RBAC_GROUP:
            errs.append(not_supported(child(path, "apiGroup"), api_group, [RBAC_GROUP]))
    else:
        allowed = ("ServiceAccount", "User", "Group")
        errs.append(not_supported(child(path, "kind"), kind or "", allowed))
    return errs


def validate_rolebindings(obj: Obj, old: Obj | None) -> list[Cause]:
    return _validate_binding(obj, old, namespaced=True)


def validate_clusterrolebindings(obj: Obj, old: Obj | None) -> list[Cause]:
    return _validate_binding(obj, old, namespaced=False)
