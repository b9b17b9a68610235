"""What a session runs: its settings resolved from the template, and the objects built
from them (a Deployment, a Service, a PersistentVolumeClaim for the home).

Builders return *partial* objects for server-side apply: exactly the fields the lifecycle
controller owns, with the Session as controlling owner, so a field someone else sets (an
admin's annotation, a defaulted field) is left alone, and deleting the Session deletes its
workload through the garbage collector.

Design choices:

* Names are ``session-<name>`` (Deployment, Service) and ``session-<name>-home`` (claim).
  The prefix makes them valid Service names (DNS-1035 labels must start with a letter) and
  recognisable in ``kubectl get``; it also means session names must leave room for it
  (Service names are at most 63 characters, so a session name at most 55), which the
  admission webhook is the place to enforce.
* The Deployment uses the ``Recreate`` strategy: the home claim is ReadWriteOnce, so a
  rolling update's second pod could never mount it; and a session is one user's
  workspace, which must never run twice.
* Hibernation is ``replicas: 0`` on the same Deployment: nothing is deleted, waking is one
  field away, the home claim stays bound.
* Resolution order: the Session's own ``image``/``resources`` win over the template's; env
  variables are merged by name with the Session's winning; ports come from the template
  (default one ``http`` port 8080).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pilothouse.operators.sessions import common
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions import template as template_mod
from pilothouse.runtime import ownerref

__all__ = [
    "HOME_MOUNT_PATH",
    "ResolveError",
    "Resolved",
    "claim",
    "claim_name",
    "deployment",
    "labels",
    "resolve",
    "service",
    "url",
    "workload_name",
]

HOME_MOUNT_PATH = "/home/user"
CONTAINER_NAME = "session"


class ResolveError(ValueError):
    """The session cannot be run as specified (no image anywhere); ``reason`` is the
    condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Resolved:
    image: str
    resources: dict[str, Any] = field(default_factory=dict)
    ports: tuple[common.Port, ...] = (common.Port(),)
    env: tuple[common.EnvVar, ...] = ()


def resolve(
    spec: session_mod.SessionSpec, template: template_mod.SessionTemplateSpec | None
) -> Resolved:
    """The session's effective image, resources, ports and env."""
    image = spec.image or (template.image if template else None)
    if not image:
        raise ResolveError("NoImage", "the session names neither an image nor a template")
    res = spec.resources or (template.resources if template else None)
    resources = res.model_dump(mode="json", by_alias=True, exclude_none=True) if res else {}
    env: dict[str, common.EnvVar] = {}
    for var in [*(template.env if template else ()), *spec.env]:
        env[var.name] = var
    ports = tuple(template.ports) if template and template.ports else (common.Port(),)
    return Resolved(image, resources, ports, tuple(env.values()))


def workload_name(session_name: str) -> str:
    return f"session-{session_name}"


def claim_name(session_name: str) -> str:
    return f"session-{session_name}-home"


def labels(session_obj: Mapping[str, Any]) -> dict[str, str]:
    meta = session_obj["metadata"]
    return {
        common.LABEL_SESSION: meta["name"],
        common.LABEL_USER: str(session_obj["spec"]["user"]),
    }


def _metadata(session_obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": session_obj["metadata"]["namespace"],
        "labels": labels(session_obj),
        "ownerReferences": [ownerref.controller_reference(session_obj)],
    }


def deployment(
    session_obj: Mapping[str, Any],
    resolved: Resolved,
    *,
    replicas: int,
    home: session_mod.HomeSpec | None,
) -> dict[str, Any]:
    """The session's Deployment (one replica running, zero hibernated)."""
    name = session_obj["metadata"]["name"]
    selector = {common.LABEL_SESSION: name}
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": resolved.image,
        "ports": [{"name": p.name, "containerPort": p.container_port} for p in resolved.ports],
    }
    if resolved.env:
        container["env"] = [{"name": e.name, "value": e.value} for e in resolved.env]
    if resolved.resources:
        container["resources"] = resolved.resources
    pod_spec: dict[str, Any] = {"containers": [container]}
    if home is not None and home.enabled:
        container["volumeMounts"] = [{"name": "home", "mountPath": HOME_MOUNT_PATH}]
        pod_spec["volumes"] = [
            {"name": "home", "persistentVolumeClaim": {"claimName": claim_name(name)}}
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(session_obj, workload_name(name)),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": labels(session_obj)}, "spec": pod_spec},
        },
    }


def service(session_obj: Mapping[str, Any], resolved: Resolved) -> dict[str, Any]:
    """A ClusterIP Service in front of the session's pod: its stable in-cluster URL."""
    name = session_obj["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(session_obj, workload_name(name)),
        "spec": {
            "selector": {common.LABEL_SESSION: name},
            "ports": [
                {"name": p.name, "port": p.container_port, "targetPort": p.container_port}
                for p in resolved.ports
            ],
        },
    }


def claim(session_obj: Mapping[str, Any], home: session_mod.HomeSpec) -> dict[str, Any]:
    """The home directory's PersistentVolumeClaim (ReadWriteOnce)."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": str(home.size)}},
    }
    if home.storage_class:
        spec["storageClassName"] = home.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _metadata(session_obj, claim_name(session_obj["metadata"]["name"])),
        "spec": spec,
    }


def url(session_name: str, namespace: str, resolved: Resolved) -> str:
    """The Service's cluster DNS name and first port."""
    port = resolved.ports[0].container_port
    return f"http://{workload_name(session_name)}.{namespace}.svc.cluster.local:{port}"
