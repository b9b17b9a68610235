"""Defaults of pods and of every pod template embedded in a workload.

Three layers, applied in kube-apiserver's order:

1. :func:`default_pod_spec` -- what the generated ``SetObjectDefaults_PodTemplate`` applies to
   any ``PodSpec`` (``SetDefaults_PodSpec``, volumes, containers, probes, env field refs,
   resource quantities). Workload defaulters call it on ``spec.template.spec``.
2. :func:`default_pod` adds what ``SetDefaults_Pod`` applies only to a bare Pod: requests
   copied from limits, ``enableServiceLinks``, host ports under ``hostNetwork``.
3. Then the mutations of the admission plugins every cluster enables, which a client
   observes as defaults: ``ServiceAccount`` (``serviceAccountName: default``),
   ``DefaultTolerationSeconds`` (300s ``NoExecute`` tolerations for not-ready/unreachable
   nodes) and ``Priority`` (``priority``/``preemptionPolicy`` from the priority class; only
   the built-in ``system-*`` classes and the no-class case are known here).

Deliberately left out: the projected service-account token volume (``kube-api-access-*``),
which needs the ServiceAccount object, and the pod's initial ``status``, which the REST
layer sets on create. Only GA or on-by-default behaviour of 1.32 is modelled (no
PodLevelResources, no in-place resize policies, no image volumes).
"""

from __future__ import annotations

import re
from typing import Any

from pilothouse.api import quantity as _quantity
from pilothouse.apiserver.builtin._util import (
    Obj,
    as_dict,
    dicts,
    ensure_dict,
    get_dict,
    set_if_empty,
    set_if_none,
)

#: ``VolumeSource`` members; a volume naming none of them becomes an ``emptyDir``.
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral", "image",
)  # fmt: skip

#: 0644, the mode of files projected from secrets, config maps and the downward API.
DEFAULT_FILE_MODE = 420

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
DEFAULT_TOLERATION_SECONDS = 300

#: The priority classes every cluster has (``scheduling.SystemPriorityClasses``).
SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}

_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# docker/distribution reference grammar, enough to find the tag the way ParseImageName does.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*"
_DOMAIN_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_REFERENCE_RE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)


def image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or untagged (undigested) images, else ``IfNotPresent``.

    Like ``parsers.ParseImageName``, an unparseable reference counts as having no tag.
    """
    m = _REFERENCE_RE.fullmatch(image)
    if m is None:
        return "IfNotPresent"
    tag, digest = m.group("tag"), m.group("digest")
    if tag == "latest" or (not tag and not digest):
        return "Always"
    return "IfNotPresent"


# --- PodSpec (pods and templates) -----------------------------------------------------------


def default_pod_spec(spec: Obj) -> None:
    """``SetDefaults_PodSpec`` plus the nested defaulters a pod template receives."""
    set_if_empty(spec, "dnsPolicy", "ClusterFirst")
    set_if_empty(spec, "restartPolicy", "Always")
    set_if_none(spec, "securityContext", {})
    set_if_none(spec, "terminationGracePeriodSeconds", 30)
    set_if_empty(spec, "schedulerName", "default-scheduler")
    for _, volume in dicts(spec.get("volumes")):
        default_volume(volume)
    for list_name in _CONTAINER_LISTS:
        for _, container in dicts(spec.get(list_name)):
            default_container(container)
    default_resource_list(spec, "overhead")


def default_container(c: Obj) -> None:
    image = c.get("image")
    if not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = image_pull_policy(image if isinstance(image, str) else "")
    set_if_empty(c, "terminationMessagePath", "/dev/termination-log")
    set_if_empty(c, "terminationMessagePolicy", "File")
    for _, port in dicts(c.get("ports")):
        set_if_empty(port, "protocol", "TCP")
    for _, env in dicts(c.get("env")):
        field_ref = get_dict(env, "valueFrom", "fieldRef")
        if field_ref is not None:
            set_if_empty(field_ref, "apiVersion", "v1")
    # ResourceRequirements is a struct, never omitted: clients always read `resources: {}`.
    resources = ensure_dict(c, "resources")
    if resources is not None:
        default_resource_list(resources, "limits")
        default_resource_list(resources, "requests")
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = as_dict(c.get(probe_name))
        if probe is not None:
            _default_probe(probe)
    lifecycle = as_dict(c.get("lifecycle"))
    if lifecycle is not None:
        for hook in ("postStart", "preStop"):
            http_get = get_dict(lifecycle, hook, "httpGet")
            if http_get is not None:
                _default_http_get(http_get)


def _default_probe(probe: Obj) -> None:
    # Zero counts as unset: these are plain int32 fields in Go.
    for name, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        if not probe.get(name):
            probe[name] = value
    http_get = as_dict(probe.get("httpGet"))
    if http_get is not None:
        _default_http_get(http_get)
    grpc = as_dict(probe.get("grpc"))
    if grpc is not None:
        # `+default=""` on a pointer without omitempty: always serialised.
        set_if_none(grpc, "service", "")


def _default_http_get(action: Obj) -> None:
    set_if_empty(action, "path", "/")
    set_if_empty(action, "scheme", "HTTP")


def default_resource_list(owner: Obj, name: str) -> None:
    """``SetDefaults_ResourceList`` (milli rounding) plus canonical quantity printing."""
    resources = as_dict(owner.get(name))
    if resources is None:
        return
    for resource, value in list(resources.items()):
        text = _quantity.canonical(value)
        if text is not None:
            resources[resource] = text


def default_volume(volume: Obj) -> None:
    if not any(volume.get(source) is not None for source in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        src = as_dict(volume.get(source))
        if src is not None:
            set_if_none(src, "defaultMode", DEFAULT_FILE_MODE)
    _default_downward_items(as_dict(volume.get("downwardAPI")))
    projected = as_dict(volume.get("projected"))
    if projected is not None:
        for _, src in dicts(projected.get("sources")):
            _default_downward_items(as_dict(src.get("downwardAPI")))
            token = as_dict(src.get("serviceAccountToken"))
            if token is not None:
                set_if_none(token, "expirationSeconds", 3600)
    default_volume_plugin_sources(volume)
    ephemeral = get_dict(volume, "ephemeral", "volumeClaimTemplate", "spec")
    if ephemeral is not None:
        default_pvc_spec(ephemeral)


def default_volume_plugin_sources(source: Obj) -> None:
    """Defaults of in-tree plugin sources shared by volumes and PersistentVolumes."""
    host_path = as_dict(source.get("hostPath"))
    if host_path is not None:
        set_if_none(host_path, "type", "")
    iscsi = as_dict(source.get("iscsi"))
    if iscsi is not None:
        set_if_empty(iscsi, "iscsiInterface", "default")
    rbd = as_dict(source.get("rbd"))
    if rbd is not None:
        set_if_empty(rbd, "pool", "rbd")
        set_if_empty(rbd, "user", "admin")
        set_if_empty(rbd, "keyring", "/etc/ceph/keyring")
    azure_disk = as_dict(source.get("azureDisk"))
    if azure_disk is not None:
        set_if_none(azure_disk, "cachingMode", "ReadWrite")
        set_if_none(azure_disk, "fsType", "ext4")
        set_if_none(azure_disk, "readOnly", False)
        set_if_none(azure_disk, "kind", "Shared")
    scale_io = as_dict(source.get("scaleIO"))
    if scale_io is not None:
        set_if_empty(scale_io, "storageMode", "ThinProvisioned")
        set_if_empty(scale_io, "fsType", "xfs")


def _default_downward_items(source: Obj | None) -> None:
    if source is None:
        return
    for _, item in dicts(source.get("items")):
        field_ref = as_dict(item.get("fieldRef"))
        if field_ref is not None:
            set_if_empty(field_ref, "apiVersion", "v1")


def default_pvc_spec(spec: Obj) -> None:
    """``SetDefaults_PersistentVolumeClaimSpec``."""
    set_if_none(spec, "volumeMode", "Filesystem")
    resources = as_dict(spec.get("resources"))
    if resources is not None:
        default_resource_list(resources, "limits")
        default_resource_list(resources, "requests")


def default_pod_template(template: object) -> None:
    """Defaults of a ``PodTemplateSpec`` embedded in a workload."""
    spec = get_dict(template if isinstance(template, dict) else None, "spec")
    if spec is not None:
        default_pod_spec(spec)


# --- Pod only -------------------------------------------------------------------------------


def default_pod(pod: Obj) -> None:
    spec = as_dict(pod.get("spec"))
    if spec is None:
        return
    for list_name in ("containers", "initContainers"):
        for _, c in dicts(spec.get(list_name)):
            _requests_from_limits(c)
    set_if_none(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork") is True:
        for list_name in ("containers", "initContainers"):
            for _, c in dicts(spec.get(list_name)):
                for _, port in dicts(c.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    default_pod_spec(spec)
    meta = as_dict(pod.get("metadata")) or {}
    _admit_service_account(spec, meta)
    _admit_default_tolerations(spec)
    _admit_priority(spec)


def _requests_from_limits(c: Obj) -> None:
    resources = as_dict(c.get("resources"))
    limits = as_dict(resources.get("limits")) if resources is not None else None
    if resources is None or not limits:
        # An empty limits map would only add an empty (omitted) requests map in Go.
        return
    requests = ensure_dict(resources, "requests")
    if requests is not None:
        for name, value in limits.items():
            requests.setdefault(name, value)


def _admit_service_account(spec: Obj, meta: Obj) -> None:
    # The deprecated `serviceAccount` is an alias: v1 conversion reads it when the new
    # field is empty and always writes the new field's value back to it.
    if not spec.get("serviceAccountName") and isinstance(spec.get("serviceAccount"), str):
        spec["serviceAccountName"] = spec["serviceAccount"]
    annotations = as_dict(meta.get("annotations")) or {}
    if not spec.get("serviceAccountName") and "kubernetes.io/config.mirror" not in annotations:
        spec["serviceAccountName"] = "default"
    if spec.get("serviceAccountName"):
        spec["serviceAccount"] = spec["serviceAccountName"]


def _admit_default_tolerations(spec: Obj) -> None:
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return
    tolerates = {NOT_READY_TAINT: False, UNREACHABLE_TAINT: False}
    for _, t in dicts(tolerations):
        if t.get("effect") in (None, "", "NoExecute"):
            for taint in tolerates:
                if t.get("key") in (None, "", taint):
                    tolerates[taint] = True
    added = [
        {
            "key": taint,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        }
        for taint, tolerated in tolerates.items()
        if not tolerated
    ]
    if added:
        spec["tolerations"] = [*tolerations, *added]


def _admit_priority(spec: Obj) -> None:
    class_name = spec.get("priorityClassName")
    priority: Any
    if not class_name:
        priority = 0
    else:
        priority = SYSTEM_PRIORITIES.get(str(class_name))
        if priority is None:
            # A user-defined class: resolving it needs the PriorityClass object.
            return
    set_if_none(spec, "priority", priority)
    set_if_none(spec, "preemptionPolicy", "PreemptLowerPriority")
