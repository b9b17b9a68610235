"""Validation of Pod objects: create-time extras and the update rules.

``validatePodMetadataAndSpec`` adds two pod-only checks to the PodSpec validation of
:mod:`.validation_pod`: images without surrounding whitespace, and no service-account
token projection without a service account.

``ValidatePodUpdate``: a pod's spec is immutable except for container images,
``activeDeadlineSeconds`` (set once, then only lowered), added tolerations, removed
scheduling gates, node-selector additions while gated, and
``terminationGracePeriodSeconds`` going from negative to 1. Anything else fails with the
real message, whose trailing diff is a simplified line-per-field rendering of what changed
(upstream prints ``cmp.Diff`` of Go structs, which no client parses). Comparisons are
semantic (:func:`._util.semantic_equal`): an omitted field equals its zero value, as with
``apiequality.Semantic.DeepEqual`` on Go structs.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pilothouse.apiserver.builtin._util import (
    MAX_INT32,
    Obj,
    as_dict,
    child,
    dicts,
    forbidden,
    get_list,
    get_str,
    inclusive_range_error,
    index,
    invalid,
    is_int,
    prune_zero,
    required,
    semantic_equal,
)
from pilothouse.apiserver.builtin.validation_container import validate_containers_only_for_pod
from pilothouse.apiserver.builtin.validation_pod import (
    validate_pod_spec,
    validate_pod_template_spec,
    validate_tolerations,
)
from pilothouse.apiserver.errors import Cause

UPDATABLE_POD_SPEC_FIELDS = ",".join(
    (
        "`spec.containers[*].image`",
        "`spec.initContainers[*].image`",
        "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` "
        "(allow it to be set to 1 if it was previously negative)",
    )
)


def validate_pods(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs = validate_pod_spec(spec, "spec")
    if not spec.get("serviceAccountName"):
        for i, volume in dicts(spec.get("volumes")):
            for j, src in dicts(get_list(as_dict(volume.get("projected")), "sources")):
                if src.get("serviceAccountToken") is not None:
                    p = child(
                        index(child(index("spec.volumes", i), "projected.sources"), j),
                        "serviceAccountToken",
                    )
                    errs.append(
                        forbidden(p, "must not be specified when serviceAccountName is not set")
                    )
    errs += validate_containers_only_for_pod(spec.get("containers"), "spec.containers")
    errs += validate_containers_only_for_pod(spec.get("initContainers"), "spec.initContainers")
    if old is not None:
        errs += validate_pod_update(obj, old)
    return errs


def validate_podtemplates(obj: Obj, old: Obj | None) -> list[Cause]:
    return validate_pod_template_spec(obj.get("template"), "template")


def validate_pod_update(new: Obj, old: Obj) -> list[Cause]:
    spec = as_dict(new.get("spec")) or {}
    old_spec = as_dict(old.get("spec")) or {}
    errs: list[Cause] = []
    for list_name in ("containers", "initContainers"):
        new_list, old_list = get_list(spec, list_name), get_list(old_spec, list_name)
        path = child("spec", list_name)
        if len(new_list) != len(old_list):
            return [*errs, forbidden(path, "pod updates may not add or remove containers")]
        for i, c in dicts(new_list):
            image = get_str(c, "image")
            if not image:
                errs.append(required(child(index(path, i), "image")))
            if image != image.strip():
                errs.append(
                    invalid(
                        child(index(path, i), "image"),
                        image,
                        "must not have leading or trailing whitespace",
                    )
                )
    deadline, old_deadline = (
        spec.get("activeDeadlineSeconds"),
        old_spec.get("activeDeadlineSeconds"),
    )
    deadline_path = "spec.activeDeadlineSeconds"
    if deadline is not None:
        if not is_int(deadline) or not 0 <= deadline <= MAX_INT32:
            return [*errs, invalid(deadline_path, deadline, inclusive_range_error(0, MAX_INT32))]
        if is_int(old_deadline) and old_deadline < deadline:
            return [
                *errs,
                invalid(deadline_path, deadline, "must be less than or equal to previous value"),
            ]
    elif old_deadline is not None:
        errs.append(
            invalid(deadline_path, None, "must not update from a positive integer to nil value")
        )
    errs += _validate_only_added_tolerations(spec.get("tolerations"), old_spec.get("tolerations"))
    errs += _validate_only_deleted_gates(
        spec.get("schedulingGates"), old_spec.get("schedulingGates")
    )
    munged = _munge_updatable(spec, old_spec)
    if not semantic_equal(munged, old_spec):
        diff = _spec_diff(old_spec, munged)
        errs.append(
            forbidden(
                "spec",
                f"pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{diff}",
            )
        )
    return errs


def _munge_updatable(spec: Obj, old_spec: Obj) -> Obj:
    munged = copy.deepcopy(spec)
    for list_name in ("containers", "initContainers"):
        for i, c in dicts(munged.get(list_name)):
            old_c = get_list(old_spec, list_name)[i]
            if isinstance(old_c, dict):
                c["image"] = old_c.get("image")
    for field in ("activeDeadlineSeconds", "schedulingGates", "tolerations", "ephemeralContainers"):
        munged.pop(field, None)
        if field in old_spec:
            munged[field] = copy.deepcopy(old_spec[field])
    old_grace, new_grace = (
        old_spec.get("terminationGracePeriodSeconds"),
        munged.get("terminationGracePeriodSeconds"),
    )
    if is_int(old_grace) and old_grace < 0 and new_grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if get_list(old_spec, "schedulingGates"):
        # A gated pod may gain node-selector entries (never lose or change them).
        new_sel, old_sel = (
            as_dict(munged.get("nodeSelector")) or {},
            as_dict(old_spec.get("nodeSelector")) or {},
        )
        if all(new_sel.get(k) == v for k, v in old_sel.items()):
            munged["nodeSelector"] = copy.deepcopy(old_spec.get("nodeSelector"))
    return munged


def _validate_only_added_tolerations(new: object, old: object) -> list[Cause]:
    new_items = [t for _, t in dicts(new)]
    for _, old_t in dicts(old):
        wanted = prune_zero({k: v for k, v in old_t.items() if k != "tolerationSeconds"})
        if not any(
            prune_zero({k: v for k, v in t.items() if k != "tolerationSeconds"}) == wanted
            for t in new_items
        ):
            return [
                forbidden(
                    "spec.tolerations",
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            ]
    return validate_tolerations(new, "spec.tolerations")


def _validate_only_deleted_gates(new: object, old: object) -> list[Cause]:
    old_names = {get_str(g, "name") for _, g in dicts(old)}
    return [
        forbidden(
            child(index("spec.schedulingGates", i), "name"),
            f"only deletion is allowed, but found new scheduling gate '{get_str(g, 'name')}'",
        )
        for i, g in dicts(new)
        if get_str(g, "name") not in old_names
    ]


def _spec_diff(old: Obj, new: Obj) -> str:
    lines = ["  core.PodSpec{"]
    for path, before, after in _diff(prune_zero(old), prune_zero(new), ""):
        if before is not _MISSING:
            lines.append(f"- \t{path}: {_short(before)},")
        if after is not _MISSING:
            lines.append(f"+ \t{path}: {_short(after)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


_MISSING: Any = object()


def _diff(a: object, b: object, path: str) -> list[tuple[str, object, object]]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[tuple[str, object, object]] = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k, _MISSING), b.get(k, _MISSING), child(path, k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _diff(x, y, index(path, i))
        ]
    return [] if a == b else [(path, a, b)]


def _short(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
