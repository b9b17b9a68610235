"""Validation of ``apps/v1`` workloads (``pkg/apis/apps/validation``).

The shared core is the selector contract: a selector is required and non-empty, and must
match the pod template's labels -- otherwise ``spec.template.metadata.labels: Invalid
value: map[string]string{...}: `selector` does not match template `labels```. Without a
selector both errors appear, as upstream (a nil selector selects nothing). Through
apps/v1 the selector is immutable (``field is immutable``, showing Go's
``v1.LabelSelector{...}`` dump of the new selector).

StatefulSet templates are only checked for labels and annotations (upstream skips the
PodSpec there) and its spec is immutable apart from replicas, ordinals, template, update
strategy, retention policy and minReadySeconds.
"""

from __future__ import annotations

import copy

from pilothouse.api.validation import go_quote
from pilothouse.apiserver.builtin._rules import (
    int_or_percent_value,
    not_more_than_100_percent,
    selector_is_empty,
    selector_of,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_positive_int_or_percent,
)
from pilothouse.apiserver.builtin._util import (
    GoValue,
    Obj,
    as_dict,
    child,
    forbidden,
    get_dict,
    go_int_or_string,
    go_label_selector,
    go_string_map,
    go_struct,
    immutable,
    invalid,
    is_int,
    nonnegative,
    not_supported,
    required,
    semantic_equal,
    string_map,
)
from pilothouse.apiserver.builtin.validation_pod import validate_pod_template_spec
from pilothouse.apiserver.errors import Cause

_MISMATCH = "`selector` does not match template `labels`"


def validate_selector_and_template(spec: Obj, kind: str, path: str = "spec") -> list[Cause]:
    """Selector presence/validity, non-emptiness and the template-labels match."""
    errs: list[Cause] = []
    selector = spec.get("selector")
    sel_path = child(path, "selector")
    if selector is None:
        errs.append(required(sel_path))
    else:
        errs += validate_label_selector(selector, sel_path)
        if selector_is_empty(selector):
            errs.append(
                invalid(
                    sel_path, go_label_selector(selector), f"empty selector is invalid for {kind}"
                )
            )
    errs += template_labels_match(spec, path)
    return errs


def template_labels_match(spec: Obj, path: str = "spec") -> list[Cause]:
    selector = selector_of(spec.get("selector"))
    labels = string_map(get_dict(spec, "template", "metadata", "labels") or None)
    if selector is not None and not selector.empty and not selector.matches(labels):
        return [
            invalid(child(path, "template", "metadata", "labels"), go_string_map(labels), _MISMATCH)
        ]
    return []


def _restart_always(spec: Obj, kind: str) -> list[Cause]:
    errs: list[Cause] = []
    tmpl_spec = get_dict(spec, "template", "spec") or {}
    if tmpl_spec.get("restartPolicy") != "Always":
        path = "spec.template.spec.restartPolicy"
        errs.append(not_supported(path, tmpl_spec.get("restartPolicy"), ["Always"]))
    if tmpl_spec.get("activeDeadlineSeconds") is not None:
        path = "spec.template.spec.activeDeadlineSeconds"
        errs.append(forbidden(path, f"activeDeadlineSeconds in {kind} is not Supported"))
    return errs


def _selector_immutable(spec: Obj, old: Obj | None) -> list[Cause]:
    if old is None:
        return []
    old_selector = (as_dict(old.get("spec")) or {}).get("selector")
    if not semantic_equal(spec.get("selector"), old_selector):
        return [immutable("spec.selector", go_label_selector(spec.get("selector")))]
    return []


def validate_replicasets(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs = nonnegative("spec.replicas", spec.get("replicas"))
    errs += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    # Upstream's ReplicaSet message says "deployment" too.
    errs += validate_selector_and_template(spec, "deployment")
    errs += validate_pod_template_spec(spec.get("template"), "spec.template")
    errs += _restart_always(spec, "ReplicaSet")
    return errs + _selector_immutable(spec, old)


def validate_deployments(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs = nonnegative("spec.replicas", spec.get("replicas"))
    errs += validate_selector_and_template(spec, "deployment")
    errs += validate_pod_template_spec(spec.get("template"), "spec.template")
    errs += _restart_always(spec, "ReplicaSet")
    errs += _validate_deployment_strategy(as_dict(spec.get("strategy")) or {})
    min_ready = spec.get("minReadySeconds")
    errs += nonnegative("spec.minReadySeconds", min_ready)
    errs += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    deadline = spec.get("progressDeadlineSeconds")
    if is_int(deadline):
        errs += nonnegative("spec.progressDeadlineSeconds", deadline)
        if deadline <= (min_ready if is_int(min_ready) else 0):
            errs.append(
                invalid(
                    "spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"
                )
            )
    return errs + _selector_immutable(spec, old)


def _validate_deployment_strategy(strategy: Obj) -> list[Cause]:
    path = "spec.strategy"
    strategy_type = strategy.get("type")
    if strategy_type == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            detail = "may not be specified when strategy `type` is 'Recreate'"
            return [forbidden(child(path, "rollingUpdate"), detail)]
        return []
    if strategy_type != "RollingUpdate":
        value = _go_strategy("DeploymentStrategy", "RollingUpdateDeployment", strategy)
        return [not_supported(path, value, ("Recreate", "RollingUpdate"))]
    rolling = as_dict(strategy.get("rollingUpdate"))
    rp = child(path, "rollingUpdate")
    if rolling is None:
        return [required(rp, "this should be defaulted and never be nil")]
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errs = validate_positive_int_or_percent(child(rp, "maxUnavailable"), unavailable)
    errs += validate_positive_int_or_percent(child(rp, "maxSurge"), surge)
    if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
        errs.append(
            invalid(
                child(rp, "maxUnavailable"),
                go_int_or_string(unavailable),
                "may not be 0 when `maxSurge` is 0",
            )
        )
    errs += not_more_than_100_percent(child(rp, "maxUnavailable"), unavailable)
    return errs


def validate_daemonsets(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs = validate_label_selector(spec.get("selector"), "spec.selector")
    errs += template_labels_match(spec)
    if spec.get("selector") is not None and selector_is_empty(spec.get("selector")):
        detail = "empty selector is invalid for daemonset"
        errs.append(invalid("spec.selector", go_label_selector(spec.get("selector")), detail))
    errs += validate_pod_template_spec(spec.get("template"), "spec.template")
    errs += _restart_always(spec, "DaemonSet")
    errs += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    errs += _validate_daemonset_strategy(as_dict(spec.get("updateStrategy")) or {})
    errs += nonnegative("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"))
    return errs + _selector_immutable(spec, old)


def _validate_daemonset_strategy(strategy: Obj) -> list[Cause]:
    path = "spec.updateStrategy"
    strategy_type = strategy.get("type")
    if strategy_type == "OnDelete":
        return []
    if strategy_type != "RollingUpdate":
        value = _go_strategy("DaemonSetUpdateStrategy", "RollingUpdateDaemonSet", strategy)
        return [not_supported(path, value, ("RollingUpdate", "OnDelete"))]
    rolling = as_dict(strategy.get("rollingUpdate"))
    rp = child(path, "rollingUpdate")
    if rolling is None:
        return [required(rp)]
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    errs = validate_positive_int_or_percent(child(rp, "maxUnavailable"), unavailable)
    errs += validate_positive_int_or_percent(child(rp, "maxSurge"), surge)
    errs += not_more_than_100_percent(child(rp, "maxUnavailable"), unavailable)
    errs += not_more_than_100_percent(child(rp, "maxSurge"), surge)
    has_unavailable = int_or_percent_value(unavailable) != 0
    has_surge = int_or_percent_value(surge) != 0
    if has_unavailable and has_surge:
        detail = "may not be set when maxUnavailable is non-zero"
        errs.append(invalid(child(rp, "maxSurge"), go_int_or_string(surge), detail))
    elif not has_unavailable and not has_surge:
        errs.append(required(child(rp, "maxUnavailable"), "cannot be 0 when maxSurge is 0"))
    return errs


def _go_strategy(type_name: str, rolling_type: str, strategy: Obj) -> GoValue:
    """``%#v`` of an update strategy struct; a set pointer prints as an address in Go."""
    rolling = "nil" if strategy.get("rollingUpdate") is None else "0xc000000000"
    strategy_type = go_quote(str(strategy.get("type") or ""))
    return GoValue(
        f"apps.{type_name}{{Type:{strategy_type}, RollingUpdate:(*apps.{rolling_type})({rolling})}}"
    )


def validate_statefulsets(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs: list[Cause] = []
    policy = spec.get("podManagementPolicy")
    if not policy:
        errs.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(
            invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'")
        )
    errs += _validate_statefulset_strategy(as_dict(spec.get("updateStrategy")) or {})
    retention = as_dict(spec.get("persistentVolumeClaimRetentionPolicy"))
    for field in ("whenDeleted", "whenScaled"):
        if retention is not None and retention.get(field) not in ("Retain", "Delete"):
            path = child("spec.persistentVolumeClaimRetentionPolicy", field)
            errs.append(not_supported(path, retention.get(field) or "", ("Retain", "Delete")))
    errs += nonnegative("spec.replicas", spec.get("replicas"))
    errs += nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    start = (as_dict(spec.get("ordinals")) or {}).get("start")
    errs += nonnegative("spec.ordinals.start", start)
    errs += validate_selector_and_template(spec, "statefulset")
    template_meta = get_dict(spec, "template", "metadata") or {}
    errs += validate_labels(template_meta.get("labels"), "spec.template.labels")
    errs += validate_annotations(template_meta.get("annotations"), "spec.template.annotations")
    errs += _restart_always(spec, "StatefulSet")
    if old is not None:
        errs += _validate_statefulset_update(spec, as_dict(old.get("spec")) or {})
    return errs


def _validate_statefulset_strategy(strategy: Obj) -> list[Cause]:
    path = "spec.updateStrategy"
    strategy_type = strategy.get("type")
    rolling = as_dict(strategy.get("rollingUpdate"))
    if not strategy_type:
        return [required(path)]
    if strategy_type == "OnDelete":
        if rolling is not None:
            detail = "only allowed for updateStrategy 'RollingUpdate'"
            value = GoValue(
                "apps.RollingUpdateStatefulSetStrategy{"
                f"Partition:{rolling.get('partition') or 0}, "
                "MaxUnavailable:(*intstr.IntOrString)(nil)}"
            )
            return [invalid(child(path, "rollingUpdate"), value, detail)]
        return []
    if strategy_type != "RollingUpdate":
        value = _go_strategy(
            "StatefulSetUpdateStrategy", "RollingUpdateStatefulSetStrategy", strategy
        )
        return [invalid(path, value, "must be 'RollingUpdate' or 'OnDelete'")]
    if rolling is None:
        return []
    errs = nonnegative(child(path, "rollingUpdate", "partition"), rolling.get("partition"))
    unavailable = rolling.get("maxUnavailable")
    if unavailable is not None:
        up = child(path, "rollingUpdate", "maxUnavailable")
        errs += validate_positive_int_or_percent(up, unavailable)
        if int_or_percent_value(unavailable) == 0:
            errs.append(invalid(up, go_int_or_string(unavailable), "cannot be 0"))
        errs += not_more_than_100_percent(up, unavailable)
    return errs


_STS_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _validate_statefulset_update(spec: Obj, old_spec: Obj) -> list[Cause]:
    new_clone = copy.deepcopy(spec)
    old_clone = copy.deepcopy(old_spec)
    for field in _STS_MUTABLE:
        new_clone.pop(field, None)
        old_clone.pop(field, None)
    if not semantic_equal(new_clone, old_clone):
        detail = (
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
            "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
            "'minReadySeconds' are forbidden"
        )
        return [forbidden("spec", detail)]
    return []


def validate_controllerrevisions(obj: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    if obj.get("data") is None:
        errs.append(required("data", "data is mandatory"))
    errs += nonnegative("revision", obj.get("revision"))
    if old is not None and not semantic_equal(obj.get("data"), old.get("data")):
        errs.append(immutable("data", go_struct("runtime.RawExtension")))
    return errs
