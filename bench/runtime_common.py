"""What the runtime benchmark's two operators share: the Stack custom resource, the three
children a Stack owns, and the reconcile-start stamp.

Standard library only: the kopf operator imports this module, and its memory figure must
not include Pilothouse.

A ``Stack`` owns a ConfigMap, a Service and a Deployment, each labelled with the Stack's
``spec.version``; when all three are in place the operator writes ``status.children: 3``,
``status.observedGeneration`` and a ``Ready`` condition. Both operators stamp the start and
the end of every reconcile (handler call) on stdout as ``S|E <namespace>/<name> <time>``,
with ``time.time()``, which the benchmark (same machine) compares with the time it changed
the object.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

GROUP = "bench.pilothouse.dev"
VERSION = "v1"
KIND = "Stack"
PLURAL = "stacks"
API_VERSION = f"{GROUP}/{VERSION}"
VERSION_LABEL = f"{GROUP}/version"
NAME_LABEL = "app.kubernetes.io/name"
#: Child name suffixes, in the order :func:`children` returns them.
SUFFIXES = ("-config", "-svc", "-app")

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "stack", "kind": KIND},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "version": {"type": "string"},
                                    "message": {"type": "string"},
                                },
                            },
                            # kopf keeps its own bookkeeping in status as well.
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


def stack(name: str, namespace: str, version: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"version": version, "message": f"hello from {name}"},
    }


def children(name: str, namespace: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The desired ConfigMap, Service and Deployment of Stack ``name`` (no owner yet)."""
    version = str(spec.get("version", ""))
    labels = {NAME_LABEL: name, VERSION_LABEL: version}
    selector = {NAME_LABEL: name}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name + SUFFIXES[0], "namespace": namespace, "labels": labels},
            "data": {"version": version, "message": str(spec.get("message", ""))},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name + SUFFIXES[1], "namespace": namespace, "labels": labels},
            "spec": {
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name + SUFFIXES[2], "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": selector},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "nginx:1.27",
                                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            }
                        ]
                    },
                },
            },
        },
    ]


def ready_condition(previous: list[dict[str, Any]] | None, generation: int) -> dict[str, Any]:
    """The Ready=True condition, keeping its transition time if it was already True."""
    old = next((c for c in previous or () if c.get("type") == "Ready"), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == "True" else None
    return {
        "type": "Ready",
        "status": "True",
        "reason": "ChildrenReady",
        "message": "ConfigMap, Service and Deployment are in place",
        "lastTransitionTime": since or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "observedGeneration": generation,
    }


_lock = threading.Lock()


def stamp(what: str, namespace: str, name: str) -> None:
    """``S`` (reconcile start) or ``E`` (end) for one object, on stdout, flushed."""
    line = f"{what} {namespace}/{name} {time.time():.6f}\n"
    with _lock:
        sys.stdout.write(line)
        sys.stdout.flush()
