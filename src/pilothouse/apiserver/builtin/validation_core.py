"""Validation of core-group objects other than pods and services.

ConfigMaps and Secrets (``IsConfigMapKey`` keys, the 1 MiB budget, Secret type
requirements, ``immutable``), Namespaces (``spec.finalizers``), PersistentVolumeClaims and
PersistentVolumes (access modes, storage requests, the PVC update rules),
ReplicationControllers (non-empty selector matching the template) and Endpoints.

Secret data travels base64-encoded in JSON; sizes are counted on the decoded bytes, as the
Go ``[]byte`` holds them.
"""

from __future__ import annotations

import base64
import binascii
import copy
import decimal
import json

from pilothouse.api import quantity as _quantity
from pilothouse.apiserver.builtin._rules import (
    is_config_map_key,
    is_valid_ip,
    is_valid_port_num,
    validate_dns1123_label,
    validate_dns1123_subdomain,
    validate_label_selector,
    validate_qualified_name,
)
from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    child,
    dicts,
    forbidden,
    get_list,
    get_str,
    go_string_map,
    immutable,
    index,
    invalid,
    key,
    nonnegative,
    not_supported,
    required,
    semantic_equal,
    string_map,
    too_long,
)
from pilothouse.apiserver.builtin.validation_container import validate_protocol
from pilothouse.apiserver.builtin.validation_pod import validate_pod_template_spec
from pilothouse.apiserver.errors import Cause

MAX_SECRET_SIZE = 1024 * 1024
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
_IMMUTABLE_DETAIL = "field is immutable when `immutable` is set"


def _validate_immutable_data(obj: Obj, old: Obj | None, fields: tuple[str, ...]) -> list[Cause]:
    if old is None or old.get("immutable") is not True:
        return []
    errs: list[Cause] = []
    if obj.get("immutable") is not True:
        errs.append(forbidden("immutable", _IMMUTABLE_DETAIL))
    for field in fields:
        if not semantic_equal(obj.get(field), old.get(field)):
            errs.append(forbidden(field, _IMMUTABLE_DETAIL))
    return errs


def validate_configmaps(obj: Obj, old: Obj | None) -> list[Cause]:
    errs = _validate_immutable_data(obj, old, ("data", "binaryData"))
    data = as_dict(obj.get("data")) or {}
    binary = as_dict(obj.get("binaryData")) or {}
    total = 0
    for k, value in data.items():
        errs += [invalid(key("data", k), k, m) for m in is_config_map_key(k)]
        if k in binary:
            errs.append(invalid(key("data", k), k, "duplicate of key present in binaryData"))
        total += len(value.encode("utf-8")) if isinstance(value, str) else 0
    for k, value in binary.items():
        errs += [invalid(key("binaryData", k), k, m) for m in is_config_map_key(k)]
        total += len(_decode(value))
    if total > MAX_SECRET_SIZE:
        # Upstream reports this against the whole object: an empty field path.
        errs.append(too_long("", MAX_SECRET_SIZE))
    return errs


def _decode(value: object) -> bytes:
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value.encode("utf-8")


def validate_secrets(obj: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    if old is not None and obj.get("type") != old.get("type"):
        errs.append(immutable("type", get_str(obj, "type")))
    errs += _validate_immutable_data(obj, old, ("data",))
    data = as_dict(obj.get("data")) or {}
    total = 0
    for k, value in data.items():
        errs += [invalid(key("data", k), k, m) for m in is_config_map_key(k)]
        total += len(_decode(value))
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    return errs + _validate_secret_type(obj, data)


def _validate_secret_type(obj: Obj, data: Obj) -> list[Cause]:
    secret_type = obj.get("type")
    if secret_type == "kubernetes.io/service-account-token":
        annotations = as_dict((as_dict(obj.get("metadata")) or {}).get("annotations")) or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            return [required(key("metadata.annotations", "kubernetes.io/service-account.name"))]
    elif secret_type in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        data_key = ".dockercfg" if secret_type == "kubernetes.io/dockercfg" else ".dockerconfigjson"
        if data_key not in data:
            return [required(key("data", data_key))]
        try:
            parsed = json.loads(_decode(data[data_key]))
        except (ValueError, UnicodeDecodeError) as exc:
            return [invalid(key("data", data_key), "<secret contents redacted>", str(exc))]
        if not isinstance(parsed, dict):
            return [
                invalid(key("data", data_key), "<secret contents redacted>", "not a JSON object")
            ]
    elif secret_type == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [required(key("data", "username")), required(key("data", "password"))]
    elif secret_type == "kubernetes.io/ssh-auth":
        if not _decode(data.get("ssh-privatekey")):
            return [required(key("data", "ssh-privatekey"))]
    elif secret_type == "kubernetes.io/tls":
        return [required(key("data", k)) for k in ("tls.crt", "tls.key") if k not in data]
    return []


def validate_namespaces(obj: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    for finalizer in get_list(as_dict(obj.get("spec")), "finalizers"):
        if isinstance(finalizer, str):
            errs += validate_finalizer_name(finalizer, "spec.finalizers")
    return errs


def validate_finalizer_name(name: str, path: str) -> list[Cause]:
    """``validateFinalizerName``: a qualified name, and if unprefixed, a standard one."""
    errs = validate_qualified_name(path, name)
    errs += validate_kube_finalizer_name(name, path)
    return errs


def validate_kube_finalizer_name(name: str, path: str) -> list[Cause]:
    if "/" not in name and name not in STANDARD_FINALIZERS:
        detail = "name is neither a standard finalizer name nor is it fully qualified"
        return [invalid(path, name, detail)]
    return []


def validate_persistentvolumeclaims(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs = validate_pvc_spec(spec, "spec")
    if old is not None:
        errs += _validate_pvc_update(obj, old)
    return errs


def validate_pvc_spec(spec: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    modes = get_list(spec, "accessModes")
    if not modes:
        errs.append(required(child(path, "accessModes"), "at least 1 access mode is required"))
    if spec.get("selector") is not None:
        errs += validate_label_selector(spec.get("selector"), child(path, "selector"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported(child(path, "accessModes"), mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and any(m != "ReadWriteOncePod" for m in modes):
        errs.append(
            forbidden(
                child(path, "accessModes"), "may not use ReadWriteOncePod with other access modes"
            )
        )
    storage_path = key(child(path, "resources"), "storage")
    requests = as_dict((as_dict(spec.get("resources")) or {}).get("requests")) or {}
    if "storage" not in requests:
        errs.append(required(storage_path))
    else:
        q = _quantity.parse(requests["storage"])
        if q is None:
            errs.append(
                invalid(storage_path, str(requests["storage"]), _quantity.QUANTITY_FORMAT_ERROR)
            )
        elif q.rounded_to_milli().value <= 0:
            errs.append(
                invalid(storage_path, str(q.rounded_to_milli()), "must be greater than zero")
            )
    class_name = spec.get("storageClassName")
    if isinstance(class_name, str) and class_name:
        errs += validate_dns1123_subdomain(child(path, "storageClassName"), class_name)
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        errs.append(not_supported(child(path, "volumeMode"), mode, VOLUME_MODES))
    return errs


def _validate_pvc_update(obj: Obj, old: Obj) -> list[Cause]:
    errs: list[Cause] = []
    new_spec = copy.deepcopy(as_dict(obj.get("spec")) or {})
    old_spec = copy.deepcopy(as_dict(old.get("spec")) or {})
    if not old_spec.get("volumeName"):
        # The binder sets volumeName once.
        old_spec["volumeName"] = new_spec.get("volumeName")
    if not old_spec.get("storageClassName"):
        # Retroactive default StorageClass (GA in 1.28): an unset class may be set once.
        old_spec["storageClassName"] = new_spec.get("storageClassName")
    bound = get_str(as_dict(obj.get("status")), "phase") == "Bound"
    old_storage = _storage_request(old_spec)
    new_storage = _storage_request(new_spec)
    if bound and isinstance(as_dict(new_spec.get("resources")), dict):
        requests = as_dict(new_spec["resources"].get("requests"))
        if requests is not None:
            requests["storage"] = (_requests(old_spec) or {}).get("storage")
    for spec in (new_spec, old_spec):
        spec.pop("volumeAttributesClassName", None)
    if not semantic_equal(new_spec, old_spec):
        errs.append(
            forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims",
            )
        )
    if old_storage is not None and new_storage is not None and new_storage < old_storage:
        errs.append(
            forbidden(
                "spec.resources.requests.storage", "field can not be less than previous value"
            )
        )
    new_mode = (as_dict(obj.get("spec")) or {}).get("volumeMode")
    if new_mode != (as_dict(old.get("spec")) or {}).get("volumeMode"):
        # Upstream's path here really is just "volumeMode".
        errs.append(immutable("volumeMode", new_mode))
    return errs


def _requests(spec: Obj) -> Obj | None:
    return as_dict((as_dict(spec.get("resources")) or {}).get("requests"))


def _storage_request(spec: Obj) -> decimal.Decimal | None:
    q = _quantity.parse((_requests(spec) or {}).get("storage"))
    return None if q is None else q.value


def validate_persistentvolumes(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs: list[Cause] = []
    modes = get_list(spec, "accessModes")
    if not modes:
        errs.append(required("spec.accessModes"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported("spec.accessModes", mode, ACCESS_MODES))
    capacity = as_dict(spec.get("capacity")) or {}
    if "storage" not in capacity:
        errs.append(required("spec.capacity"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy not in ("Delete", "Recycle", "Retain"):
        errs.append(
            not_supported(
                "spec.persistentVolumeReclaimPolicy", policy, ("Delete", "Recycle", "Retain")
            )
        )
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        errs.append(not_supported("spec.volumeMode", mode, VOLUME_MODES))
    return errs


def validate_replicationcontrollers(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    errs = nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    selector = string_map(spec.get("selector")) or {}
    if not selector:
        errs.append(required("spec.selector"))
    errs += nonnegative("spec.replicas", spec.get("replicas"))
    template = as_dict(spec.get("template"))
    if template is None:
        return [*errs, required("spec.template")]
    labels = string_map((as_dict(template.get("metadata")) or {}).get("labels"))
    if selector and any((labels or {}).get(k) != v for k, v in selector.items()):
        errs.append(
            invalid(
                "spec.template.metadata.labels",
                go_string_map(labels),
                "`selector` does not match template `labels`",
            )
        )
    errs += validate_pod_template_spec(template, "spec.template")
    tmpl_spec = as_dict(template.get("spec")) or {}
    if tmpl_spec.get("restartPolicy") != "Always":
        errs.append(
            not_supported(
                "spec.template.spec.restartPolicy", tmpl_spec.get("restartPolicy"), ["Always"]
            )
        )
    if tmpl_spec.get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden(
                "spec.template.spec.activeDeadlineSeconds",
                "activeDeadlineSeconds in ReplicationController is not Supported",
            )
        )
    return errs


def validate_endpoints(obj: Obj, old: Obj | None) -> list[Cause]:
    errs: list[Cause] = []
    for i, subset in dicts(obj.get("subsets")):
        p = index("subsets", i)
        if not get_list(subset, "addresses") and not get_list(subset, "notReadyAddresses"):
            errs.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
        for field in ("addresses", "notReadyAddresses"):
            for j, address in dicts(subset.get(field)):
                ap = index(child(p, field), j)
                errs += is_valid_ip(child(ap, "ip"), get_str(address, "ip"))
                hostname = get_str(address, "hostname")
                if hostname:
                    errs += validate_dns1123_label(child(ap, "hostname"), hostname)
        ports = get_list(subset, "ports")
        for j, port in dicts(ports):
            pp = index(child(p, "ports"), j)
            name = get_str(port, "name")
            if len(ports) > 1 and not name:
                errs.append(required(child(pp, "name")))
            elif name:
                errs += validate_dns1123_label(child(pp, "name"), name)
            errs += [
                invalid(child(pp, "port"), port.get("port"), m)
                for m in is_valid_port_num(port.get("port"))
            ]
            errs += validate_protocol(port.get("protocol"), child(pp, "protocol"))
    return errs
