"""Validation of resource requirements and security contexts of containers.

``ValidateResourceRequirements``: resource names (standard, native or extended), quantity
values (parseable, non-negative, integral for extended resources) and ``requests <=
limits`` (``==`` for resources that cannot be overcommitted, such as hugepages and extended
resources, whose requests also need a limit). Quantities are shown in canonical form, as
Go prints them (``must be less than or equal to cpu limit of 500m``). Resource names are
visited in sorted order where Go iterates its map randomly.

Security contexts are checked for the user/group ID ranges and the privileged/escalation
contradiction; capabilities, seccomp, AppArmor and SELinux options are not checked.
"""

from __future__ import annotations

from pilothouse.api import quantity as _quantity
from pilothouse.api import validation as api_validation
from pilothouse.apiserver.builtin._rules import validate_qualified_name
from pilothouse.apiserver.builtin._util import (
    MAX_INT32,
    Obj,
    as_dict,
    child,
    go_struct,
    inclusive_range_error,
    invalid,
    is_int,
    key,
    required,
)
from pilothouse.apiserver.errors import Cause

_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | {
    "requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
    "limits.cpu", "limits.memory", "limits.ephemeral-storage", "storage", "pods", "services",
    "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
}  # fmt: skip


def validate_resource_requirements(resources: Obj | None, path: str) -> list[Cause]:
    """``ValidateResourceRequirements`` of a container (or a pod's ``overhead`` as limits)."""
    if resources is None:
        return []
    errs: list[Cause] = []
    limits = as_dict(resources.get("limits")) or {}
    requests = as_dict(resources.get("requests")) or {}
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    parsed_limits: dict[str, _quantity.Quantity] = {}
    for name in sorted(limits):
        q, value_errs = _validate_quantity(name, limits[name], key(lim_path, name))
        errs += value_errs
        if q is not None:
            parsed_limits[name] = q
    for name in sorted(requests):
        q, value_errs = _validate_quantity(name, requests[name], key(req_path, name))
        errs += value_errs
        limit = parsed_limits.get(name)
        if q is not None and limit is not None:
            if q.value != limit.value and not _overcommit_allowed(name):
                errs.append(invalid(req_path, str(q), f"must be equal to {name} limit of {limit}"))
            elif q.value > limit.value:
                errs.append(
                    invalid(
                        req_path, str(q), f"must be less than or equal to {name} limit of {limit}"
                    )
                )
        elif name not in limits and not _overcommit_allowed(name):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
    return errs


def _validate_quantity(
    name: str, value: object, path: str
) -> tuple[_quantity.Quantity | None, list[Cause]]:
    errs = _validate_resource_name(name, path)
    q = _quantity.parse(value)
    if q is None:
        return None, [*errs, invalid(path, str(value), _quantity.QUANTITY_FORMAT_ERROR)]
    q = q.rounded_to_milli()
    if q.value < 0:
        errs.append(invalid(path, str(q), "must be greater than or equal to 0"))
    if _is_extended(name) and q.value != q.value.to_integral_value():
        errs.append(invalid(path, str(q), "must be an integer"))
    return q, errs


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_extended(name: str) -> bool:
    if _is_native(name) or name.startswith("requests."):
        return False
    return not api_validation.is_qualified_name("requests." + name)


def _overcommit_allowed(name: str) -> bool:
    return _is_native(name) and not name.startswith("hugepages-")


def _validate_resource_name(name: str, path: str) -> list[Cause]:
    errs = validate_qualified_name(path, name)
    if errs:
        return errs
    if "/" not in name:
        if name not in _STANDARD_RESOURCES and not name.startswith("hugepages-"):
            errs.append(invalid(path, name, "must be a standard resource type or fully qualified"))
        if name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            errs.append(invalid(path, name, "must be a standard resource for containers"))
    elif not _is_native(name) and not _is_extended(name):
        errs.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return errs


def validate_id_range(value: object, path: str) -> list[Cause]:
    """``IsValidUserID``/``IsValidGroupID``."""
    if is_int(value) and not 0 <= value <= MAX_INT32:
        return [invalid(path, value, inclusive_range_error(0, MAX_INT32))]
    return []


def validate_security_context(sc: Obj | None, path: str) -> list[Cause]:
    if sc is None:
        return []
    errs = validate_id_range(sc.get("runAsUser"), child(path, "runAsUser"))
    errs += validate_id_range(sc.get("runAsGroup"), child(path, "runAsGroup"))
    if sc.get("allowPrivilegeEscalation") is False and sc.get("privileged") is True:
        errs.append(
            invalid(
                path,
                go_struct("core.SecurityContext"),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            )
        )
    return errs
