"""Validation of PodSpecs and pod templates (shared by Pods and every workload).

:func:`validate_pod_spec` is ``ValidatePodSpec`` minus affinity, topology-spread label
keys, seccomp/AppArmor and resource claims: volumes (names, exactly one source, required
source fields, file modes), containers (see :mod:`.validation_container`), restart and
DNS policies, node selector, tolerations, scheduling and readiness gates, the names it
references, deadlines and host names.

:func:`validate_pod_template_spec` is ``ValidatePodTemplateSpec``, whose label errors are
reported at ``<template>.labels`` (not ``<template>.metadata.labels``), as upstream does.
Pod objects and updates are in :mod:`.validation_pods`.
"""

from __future__ import annotations

from pilothouse.api import validation as api_validation
from pilothouse.apiserver.builtin._rules import (
    validate_annotations,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_labels,
    validate_qualified_name,
)
from pilothouse.apiserver.builtin._util import (
    MAX_INT32,
    Obj,
    as_dict,
    child,
    dicts,
    duplicate,
    forbidden,
    get_dict,
    get_list,
    get_str,
    go_struct,
    inclusive_range_error,
    index,
    invalid,
    is_int,
    not_supported,
    required,
    required_enum,
)
from pilothouse.apiserver.builtin.validation_container import (
    validate_containers,
    validate_ephemeral_containers,
    validate_init_containers,
)
from pilothouse.apiserver.builtin.validation_resources import (
    validate_id_range,
    validate_resource_requirements,
)
from pilothouse.apiserver.errors import Cause

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_FILE_MODE_ERROR = "must be a number between 0 and 0777 (octal), both inclusive"
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


# --- volumes --------------------------------------------------------------------------------


def validate_volumes(volumes: object, path: str) -> tuple[set[str], list[Cause]]:
    """``ValidateVolumes``: the names of the valid volumes, and the errors."""
    errs: list[Cause] = []
    names: set[str] = set()
    for i, volume in dicts(volumes):
        p = index(path, i)
        vol_errs = _validate_volume_source(volume, p)
        name = get_str(volume, "name")
        if not name:
            vol_errs.append(required(child(p, "name")))
        else:
            vol_errs += validate_dns1123_label(child(p, "name"), name)
        if name in names:
            vol_errs.append(duplicate(child(p, "name"), name))
        if vol_errs:
            errs += vol_errs
        else:
            names.add(name)
    return names, errs


# validateVolumeSource's order, which decides which source counts as "the" one.
_SOURCE_ORDER = (
    "emptyDir", "hostPath", "gitRepo", "gcePersistentDisk", "awsElasticBlockStore", "secret",
    "nfs", "iscsi", "glusterfs", "flocker", "persistentVolumeClaim", "rbd", "cinder", "cephfs",
    "quobyte", "downwardAPI", "fc", "flexVolume", "configMap", "azureFile", "vsphereVolume",
    "photonPersistentDisk", "portworxVolume", "azureDisk", "storageos", "projected", "scaleIO",
    "csi", "ephemeral", "image",
)  # fmt: skip
# Upstream spells two of the "more than 1 volume type" paths this way.
_FORBIDDEN_PATH_NAMES = {"downwardAPI": "downwarAPI", "cephfs": "cephFS"}
_REQUIRED_SOURCE_FIELDS = {
    "hostPath": ("path",),
    "persistentVolumeClaim": ("claimName",),
    "nfs": ("server", "path"),
    "gitRepo": ("repository",),
    "csi": ("driver",),
    "configMap": ("name",),
    "secret": ("secretName",),
}


def _validate_volume_source(volume: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    present = [s for s in _SOURCE_ORDER if volume.get(s) is not None]
    if not present:
        return [required(path, "must specify a volume type")]
    for extra in present[1:]:
        name = _FORBIDDEN_PATH_NAMES.get(extra, extra)
        errs.append(forbidden(child(path, name), "may not specify more than 1 volume type"))
    source = present[0]
    body = as_dict(volume.get(source)) or {}
    p = child(path, source)
    for field in _REQUIRED_SOURCE_FIELDS.get(source, ()):
        if not get_str(body, field):
            errs.append(required(child(p, field)))
    if source in ("secret", "configMap", "downwardAPI", "projected"):
        mode = body.get("defaultMode")
        if is_int(mode) and not 0 <= mode <= 0o777:
            errs.append(invalid(child(p, "defaultMode"), mode, _FILE_MODE_ERROR))
        for j, item in dicts(body.get("items")):
            item_mode = item.get("mode")
            if is_int(item_mode) and not 0 <= item_mode <= 0o777:
                item_path = child(index(child(p, "items"), j), "mode")
                errs.append(invalid(item_path, item_mode, _FILE_MODE_ERROR))
    if source == "projected":
        kinds = ("secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle")
        for j, src in dicts(body.get("sources")):
            if sum(src.get(k) is not None for k in kinds) > 1:
                errs.append(
                    forbidden(
                        index(child(p, "sources"), j),
                        "may not specify more than 1 volume type per source",
                    )
                )
    return errs


# --- pod spec -------------------------------------------------------------------------------


def validate_pod_spec(spec: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is None:
        errs.append(required(child(path, "terminationGracePeriodSeconds")))
    volumes, vol_errs = validate_volumes(spec.get("volumes"), child(path, "volumes"))
    errs += vol_errs
    errs += validate_containers(spec.get("containers"), volumes, grace, child(path, "containers"))
    errs += validate_init_containers(
        spec.get("initContainers"),
        spec.get("containers"),
        volumes,
        grace,
        child(path, "initContainers"),
    )
    errs += validate_ephemeral_containers(spec, volumes, child(path, "ephemeralContainers"))
    errs += required_enum(spec.get("restartPolicy"), child(path, "restartPolicy"), RESTART_POLICIES)
    errs += required_enum(spec.get("dnsPolicy"), child(path, "dnsPolicy"), DNS_POLICIES)
    errs += validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector"))
    security = as_dict(spec.get("securityContext"))
    if security is not None:
        for field in ("runAsUser", "runAsGroup", "fsGroup"):
            errs += validate_id_range(security.get(field), child(path, "securityContext", field))
    for i, secret in dicts(spec.get("imagePullSecrets")):
        if set(secret) - {"name"}:
            errs.append(
                invalid(
                    index(child(path, "imagePullSecrets"), i),
                    go_struct("core.LocalObjectReference"),
                    "only name may be set",
                )
            )
    if spec.get("dnsPolicy") == "None" and as_dict(spec.get("dnsConfig")) is None:
        errs.append(
            required(child(path, "dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None")
        )
    for i, gate in dicts(spec.get("readinessGates")):
        errs += validate_qualified_name(
            child(index(child(path, "readinessGates"), i), "conditionType"),
            get_str(gate, "conditionType"),
        )
    errs += _validate_scheduling_gates(spec.get("schedulingGates"), child(path, "schedulingGates"))
    errs += _validate_topology_spread(
        spec.get("topologySpreadConstraints"), child(path, "topologySpreadConstraints")
    )
    for field, rule in (("serviceAccountName", "serviceaccounts"), ("nodeName", "nodes")):
        value = get_str(spec, field)
        if value:
            errs += [
                invalid(child(path, field), value, m)
                for m in api_validation.validate_object_name(rule, value)
            ]
    deadline = spec.get("activeDeadlineSeconds")
    if is_int(deadline) and not 1 <= deadline <= MAX_INT32:
        errs.append(
            invalid(
                child(path, "activeDeadlineSeconds"), deadline, inclusive_range_error(1, MAX_INT32)
            )
        )
    for field in ("hostname", "subdomain"):
        value = get_str(spec, field)
        if value:
            errs += validate_dns1123_label(child(path, field), value)
    errs += validate_tolerations(spec.get("tolerations"), child(path, "tolerations"))
    priority_class = get_str(spec, "priorityClassName")
    if priority_class:
        errs += validate_dns1123_subdomain(child(path, "priorityClassName"), priority_class)
    if spec.get("preemptionPolicy") is not None:
        errs += required_enum(
            spec.get("preemptionPolicy"),
            child(path, "preemptionPolicy"),
            ("PreemptLowerPriority", "Never"),
        )
    overhead = as_dict(spec.get("overhead"))
    if overhead is not None:
        errs += validate_resource_requirements({"limits": overhead}, child(path, "overhead"))
    os_name = get_dict(spec, "os")
    if os_name is not None and os_name.get("name") not in ("linux", "windows"):
        errs.append(
            not_supported(child(path, "os", "name"), get_str(os_name, "name"), ("linux", "windows"))
        )
    return errs


def _validate_scheduling_gates(gates: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for i, gate in dicts(gates):
        name = get_str(gate, "name")
        errs += validate_qualified_name(index(path, i), name)
        if name in seen:
            errs.append(duplicate(index(path, i), name))
        seen.add(name)
    return errs


def _validate_topology_spread(constraints: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    items = list(dicts(constraints))
    for pos, (i, c) in enumerate(items):
        p = index(path, i)
        skew = c.get("maxSkew")
        if not is_int(skew) or skew <= 0:
            errs.append(
                invalid(
                    child(p, "maxSkew"), skew if is_int(skew) else 0, "must be greater than zero"
                )
            )
        if not get_str(c, "topologyKey"):
            errs.append(required(child(p, "topologyKey"), "can not be empty"))
        action = c.get("whenUnsatisfiable")
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(
                not_supported(
                    child(p, "whenUnsatisfiable"), action or "", ("DoNotSchedule", "ScheduleAnyway")
                )
            )
        for _, later in items[pos + 1 :]:
            if (
                later.get("topologyKey") == c.get("topologyKey")
                and later.get("whenUnsatisfiable") == action
            ):
                errs.append(
                    duplicate(
                        child(p, "{topologyKey, whenUnsatisfiable}"),
                        f"{{{get_str(c, 'topologyKey')}, {action}}}",
                    )
                )
                break
    return errs


def validate_tolerations(tolerations: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, t in dicts(tolerations):
        p = index(path, i)
        k = get_str(t, "key")
        op = t.get("operator") or ""
        if k:
            errs += validate_qualified_name(child(p, "key"), k)
        if not k and op != "Exists":
            errs.append(
                invalid(
                    child(p, "operator"),
                    op,
                    "operator must be Exists when `key` is empty, "
                    'which means "match all values and all keys"',
                )
            )
        if t.get("tolerationSeconds") is not None and t.get("effect") != "NoExecute":
            errs.append(
                invalid(
                    child(p, "effect"),
                    get_str(t, "effect"),
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        if op in ("Equal", ""):
            msgs = api_validation.is_valid_label_value(get_str(t, "value"))
            if msgs:
                errs.append(invalid(child(p, "operator"), get_str(t, "value"), ";".join(msgs)))
        elif op == "Exists":
            if get_str(t, "value"):
                errs.append(
                    invalid(
                        child(p, "operator"),
                        go_struct("core.Toleration"),
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            errs.append(not_supported(child(p, "operator"), op, ("Equal", "Exists")))
        effect = get_str(t, "effect")
        if effect and effect not in _TAINT_EFFECTS:
            errs.append(not_supported(child(p, "effect"), effect, _TAINT_EFFECTS))
    return errs


def validate_pod_template_spec(template: object, path: str) -> list[Cause]:
    """``ValidatePodTemplateSpec`` (note: labels are reported at ``<path>.labels``)."""
    tmpl = as_dict(template) or {}
    meta = as_dict(tmpl.get("metadata")) or {}
    errs = validate_labels(meta.get("labels"), child(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += validate_pod_spec(as_dict(tmpl.get("spec")) or {}, child(path, "spec"))
    if get_list(as_dict(tmpl.get("spec")), "ephemeralContainers"):
        errs.append(
            forbidden(
                child(path, "spec", "ephemeralContainers"),
                "ephemeral containers not allowed in pod template",
            )
        )
    return errs
