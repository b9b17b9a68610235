"""Validation of containers, as ``pkg/apis/core/validation`` does it for every PodSpec.

Covers names (DNS labels, unique across regular and init containers; ephemeral ones
unique across all), images, ports (ranges, names, protocols, host-port conflicts),
environment (names, ``valueFrom`` sources, ``envFrom``), volume mounts (must name a valid
volume, unique mount paths), pull and termination policies, and what init, regular and
ephemeral containers may each carry. Resource requirements and security contexts are
checked by :mod:`.validation_resources`, probes and lifecycle hooks by
:mod:`.validation_probes`.

Errors come in upstream's order for a given object. Validation runs on defaulted objects,
so the "Required" branches of defaulted enums (``imagePullPolicy``, port ``protocol``...)
are only reachable for objects that skipped defaulting; they are kept for fidelity.
"""

from __future__ import annotations

from typing import Any

from pilothouse.api import validation as api_validation
from pilothouse.apiserver.builtin._rules import (
    is_config_map_key,
    is_relaxed_env_var_name,
    is_valid_port_name,
    is_valid_port_num,
    validate_dns1123_label,
    validate_qualified_name,
)
from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    child,
    dicts,
    duplicate,
    forbidden,
    get_str,
    go_struct,
    index,
    invalid,
    not_found,
    not_supported,
    required,
    required_enum,
)
from pilothouse.apiserver.builtin.validation_probes import validate_lifecycle, validate_probes
from pilothouse.apiserver.builtin.validation_resources import (
    validate_resource_requirements,
    validate_security_context,
)
from pilothouse.apiserver.errors import Cause

PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
_ENV_FIELD_PATHS = (
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
    "status.podIPs",
)  # fmt: skip


def validate_containers(
    containers: object, volumes: set[str], grace: object, path: str
) -> list[Cause]:
    """``validateContainers``: the regular containers of a PodSpec."""
    items = containers if isinstance(containers, list) else []
    if not items:
        return [required(path)]
    errs: list[Cause] = []
    names: set[str] = set()
    for i, c in dicts(items):
        p = index(path, i)
        errs += _validate_container_common(c, volumes, p)
        name = get_str(c, "name")
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        else:
            names.add(name)
        lifecycle = as_dict(c.get("lifecycle"))
        if lifecycle is not None:
            errs += validate_lifecycle(lifecycle, grace, child(p, "lifecycle"))
        errs += validate_probes(c, grace, p)
        if c.get("restartPolicy") is not None:
            errs.append(
                forbidden(child(p, "restartPolicy"), "may not be set for non-init containers")
            )
    errs += _host_port_conflicts(items, path)
    return errs


def validate_init_containers(
    init: object, regular: object, volumes: set[str], grace: object, path: str
) -> list[Cause]:
    errs: list[Cause] = []
    names = {get_str(c, "name") for _, c in dicts(regular)}
    for i, c in dicts(init):
        p = index(path, i)
        errs += _validate_container_common(c, volumes, p)
        restart_always = False
        policy = c.get("restartPolicy")
        if policy is not None:
            if policy != "Always":
                errs.append(not_supported(child(p, "restartPolicy"), policy, ["Always"]))
            restart_always = policy == "Always"
        name = get_str(c, "name")
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        elif name:
            names.add(name)
        # Init containers run one at a time, so only conflicts within one count.
        errs += _host_port_conflicts([c], path)
        if restart_always:
            lifecycle = as_dict(c.get("lifecycle"))
            if lifecycle is not None:
                errs += validate_lifecycle(lifecycle, grace, child(p, "lifecycle"))
            errs += validate_probes(c, grace, p)
        else:
            for field in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if c.get(field) is not None:
                    errs.append(
                        forbidden(
                            child(p, field),
                            "may not be set for init containers without restartPolicy=Always",
                        )
                    )
        if c.get("resizePolicy"):
            errs.append(
                invalid(
                    child(p, "resizePolicy"),
                    go_struct("[]core.ContainerResizePolicy"),
                    "must not be set for init containers",
                )
            )
    return errs


def validate_ephemeral_containers(spec: Obj, volumes: set[str], path: str) -> list[Cause]:
    errs: list[Cause] = []
    others = {
        get_str(c, "name")
        for lst in ("containers", "initContainers")
        for _, c in dicts(spec.get(lst))
    }
    all_names = set(others)
    for i, c in dicts(spec.get("ephemeralContainers")):
        p = index(path, i)
        errs += _validate_container_common(c, volumes, p)
        errs += _image_whitespace(c, p)
        name = get_str(c, "name")
        if name in all_names:
            errs.append(duplicate(child(p, "name"), name))
        else:
            all_names.add(name)
        target = get_str(c, "targetContainerName")
        if target and target not in others:
            errs.append(not_found(child(p, "targetContainerName"), target))
        for field in (
            "ports",
            "resources",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "lifecycle",
        ):
            if c.get(field):
                errs.append(forbidden(child(p, field), "cannot be set for an Ephemeral Container"))
    return errs


def _image_whitespace(c: Obj, path: str) -> list[Cause]:
    image = get_str(c, "image")
    if image != image.strip():
        return [
            invalid(child(path, "image"), image, "must not have leading or trailing whitespace")
        ]
    return []


def validate_containers_only_for_pod(containers: object, path: str) -> list[Cause]:
    return [e for i, c in dicts(containers) for e in _image_whitespace(c, index(path, i))]


def _validate_container_common(c: Obj, volumes: set[str], path: str) -> list[Cause]:
    errs: list[Cause] = []
    name = get_str(c, "name")
    if not name:
        errs.append(required(child(path, "name")))
    else:
        errs += validate_dns1123_label(child(path, "name"), name)
    if not get_str(c, "image"):
        errs.append(required(child(path, "image")))
    errs += required_enum(
        c.get("terminationMessagePolicy"),
        child(path, "terminationMessagePolicy"),
        TERMINATION_MESSAGE_POLICIES,
    )
    errs += _validate_ports(c.get("ports"), child(path, "ports"))
    errs += validate_env(c.get("env"), child(path, "env"))
    errs += _validate_env_from(c.get("envFrom"), child(path, "envFrom"))
    errs += _validate_volume_mounts(c.get("volumeMounts"), volumes, child(path, "volumeMounts"))
    errs += required_enum(c.get("imagePullPolicy"), child(path, "imagePullPolicy"), PULL_POLICIES)
    errs += validate_resource_requirements(as_dict(c.get("resources")), child(path, "resources"))
    errs += validate_security_context(
        as_dict(c.get("securityContext")), child(path, "securityContext")
    )
    return errs


def _validate_ports(ports: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    names: set[str] = set()
    for i, port in dicts(ports):
        p = index(path, i)
        name = get_str(port, "name")
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                errs += [invalid(child(p, "name"), name, m) for m in msgs]
            elif name in names:
                errs.append(duplicate(child(p, "name"), name))
            else:
                names.add(name)
        container_port = port.get("containerPort")
        if not container_port:
            errs.append(required(child(p, "containerPort")))
        else:
            errs += [
                invalid(child(p, "containerPort"), container_port, m)
                for m in is_valid_port_num(container_port)
            ]
        host_port = port.get("hostPort")
        if host_port:
            errs += [
                invalid(child(p, "hostPort"), host_port, m) for m in is_valid_port_num(host_port)
            ]
        errs += validate_protocol(port.get("protocol"), child(p, "protocol"))
    return errs


def validate_protocol(protocol: object, path: str) -> list[Cause]:
    """A port's ``protocol``: required, one of :data:`PROTOCOLS`."""
    if not protocol:
        return [required(path)]
    if protocol not in PROTOCOLS:
        return [not_supported(path, protocol, PROTOCOLS)]
    return []


def _host_port_conflicts(containers: list[Any], path: str) -> list[Cause]:
    errs: list[Cause] = []
    seen: set[str] = set()
    for ci, c in dicts(containers):
        for pi, port in dicts(c.get("ports")):
            host_port = port.get("hostPort")
            if not host_port:
                continue
            ident = f"{port.get('protocol') or ''}/{port.get('hostIP') or ''}/{host_port}"
            if ident in seen:
                errs.append(
                    duplicate(child(index(child(index(path, ci), "ports"), pi), "hostPort"), ident)
                )
            seen.add(ident)
    return errs


def validate_env(env: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, var in dicts(env):
        p = index(path, i)
        name = get_str(var, "name")
        if not name:
            errs.append(required(child(p, "name")))
        else:
            errs += [invalid(child(p, "name"), name, m) for m in is_relaxed_env_var_name(name)]
        errs += _validate_value_from(var, child(p, "valueFrom"))
    return errs


def _validate_value_from(var: Obj, path: str) -> list[Cause]:
    value_from = as_dict(var.get("valueFrom"))
    if value_from is None:
        return []
    errs: list[Cause] = []
    sources = 0
    field_ref = as_dict(value_from.get("fieldRef"))
    if field_ref is not None:
        sources += 1
        errs += _validate_field_ref(field_ref, child(path, "fieldRef"))
    if as_dict(value_from.get("resourceFieldRef")) is not None:
        sources += 1
    for ref_name, rule in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
        ref = as_dict(value_from.get(ref_name))
        if ref is not None:
            sources += 1
            errs += _validate_key_selector(ref, rule, child(path, ref_name))
    if sources == 0:
        errs.append(
            invalid(
                path,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, "
                "`configMapKeyRef` or `secretKeyRef`",
            )
        )
    elif var.get("value"):
        errs.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif sources > 1:
        errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _validate_field_ref(ref: Obj, path: str) -> list[Cause]:
    if not get_str(ref, "apiVersion"):
        return [required(child(path, "apiVersion"))]
    field_path = get_str(ref, "fieldPath")
    if not field_path:
        return [required(child(path, "fieldPath"))]
    for prefix in ("metadata.annotations", "metadata.labels"):
        if field_path.startswith(prefix + "['") and field_path.endswith("']"):
            subscript = field_path[len(prefix) + 2 : -2]
            if prefix == "metadata.annotations":
                subscript = subscript.lower()
            return validate_qualified_name(path, subscript)
    if field_path not in _ENV_FIELD_PATHS:
        return [not_supported(child(path, "fieldPath"), field_path, _ENV_FIELD_PATHS)]
    return []


def _validate_key_selector(ref: Obj, rule: str, path: str) -> list[Cause]:
    name = get_str(ref, "name")
    errs = [
        invalid(child(path, "name"), name, m)
        for m in api_validation.validate_object_name(rule, name)
    ]
    k = get_str(ref, "key")
    if not k:
        errs.append(required(child(path, "key")))
    else:
        errs += [invalid(child(path, "key"), k, m) for m in is_config_map_key(k)]
    return errs


def _validate_env_from(env_from: object, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for i, source in dicts(env_from):
        p = index(path, i)
        prefix = get_str(source, "prefix")
        if prefix:
            errs += [
                invalid(child(p, "prefix"), prefix, m) for m in is_relaxed_env_var_name(prefix)
            ]
        sources = 0
        for ref_name, rule in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            ref = as_dict(source.get(ref_name))
            if ref is None:
                continue
            sources += 1
            name = get_str(ref, "name")
            if not name:
                errs.append(required(child(p, ref_name, "name")))
            else:
                # Upstream checks these names as generateName prefixes (trailing '-' allowed).
                errs += [
                    invalid(child(p, ref_name, "name"), name, m)
                    for m in api_validation.validate_object_name(rule, name, prefix=True)
                ]
        if sources == 0:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif sources > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


def _validate_volume_mounts(mounts: object, volumes: set[str], path: str) -> list[Cause]:
    errs: list[Cause] = []
    mount_points: set[str] = set()
    for i, mount in dicts(mounts):
        p = index(path, i)
        name = get_str(mount, "name")
        if not name:
            errs.append(required(child(p, "name")))
        if name not in volumes:
            errs.append(not_found(child(p, "name"), name))
        mount_path = get_str(mount, "mountPath")
        if not mount_path:
            errs.append(required(child(p, "mountPath")))
        if mount_path in mount_points:
            errs.append(invalid(child(p, "mountPath"), mount_path, "must be unique"))
        mount_points.add(mount_path)
        if mount.get("subPath") and mount.get("subPathExpr"):
            errs.append(
                invalid(
                    child(p, "subPathExpr"),
                    get_str(mount, "subPathExpr"),
                    "subPathExpr and subPath are mutually exclusive",
                )
            )
    return errs
