"""The runtime benchmark's kopf operator, run as kopf's documentation runs one::

    KUBECONFIG=... python -m kopf run --standalone -n NAMESPACE -m bench.runtime_kopf

The same work as :mod:`bench.runtime_pilothouse`: on creation (and on resume) create the
Stack's ConfigMap, Service and Deployment, adopted with ``kopf.adopt`` (a controller
ownerReference), patching any that already exists; on a spec change patch all three (and
create any that is missing); then write ``status.children: 3``, ``observedGeneration`` and
a Ready condition through kopf's ``patch``. Children are written with the official
``kubernetes`` client from kopf's synchronous handlers, as kopf's examples do, through one
shared ``ApiClient``. kopf's settings are its defaults; ``--standalone`` turns peering off;
``BENCH_KOPF_MAX_WORKERS`` (unset by default) sizes the handlers' thread pool.
"""

from __future__ import annotations

import os
from typing import Any

import kopf
import kubernetes
from kubernetes.client.exceptions import ApiException

from bench import runtime_common as common

_api = kubernetes.config.new_client_from_config()  # type: ignore[no-untyped-call]
_api.user_agent = "bench-kopf-handlers"
_core = kubernetes.client.CoreV1Api(_api)
_apps = kubernetes.client.AppsV1Api(_api)


# The client takes plain dicts as bodies (its stubs name only its models).
def _create(child: Any) -> None:
    ns, kind = child["metadata"]["namespace"], child["kind"]
    if kind == "ConfigMap":
        _core.create_namespaced_config_map(ns, child)
    elif kind == "Service":
        _core.create_namespaced_service(ns, child)
    else:
        _apps.create_namespaced_deployment(ns, child)


def _patch(child: Any) -> None:
    name, ns, kind = child["metadata"]["name"], child["metadata"]["namespace"], child["kind"]
    if kind == "ConfigMap":
        _core.patch_namespaced_config_map(name, ns, child)
    elif kind == "Service":
        _core.patch_namespaced_service(name, ns, child)
    else:
        _apps.patch_namespaced_deployment(name, ns, child)


def _ensure(body: kopf.Body, patch: kopf.Patch, *, create_first: bool) -> None:
    name, namespace = body.metadata.name, body.metadata.namespace
    assert name is not None and namespace is not None
    common.stamp("S", namespace, name)
    try:
        for child in common.children(name, namespace, dict(body.spec)):
            kopf.adopt(child, owner=body)
            try:
                (_create if create_first else _patch)(child)
            except ApiException as exc:
                if exc.status not in (404, 409):
                    raise
                (_patch if create_first else _create)(child)
        generation = int(body.metadata.get("generation") or 0)
        patch.status["children"] = 3
        patch.status["observedGeneration"] = generation
        previous = body.status.get("conditions")
        patch.status["conditions"] = [common.ready_condition(previous, generation)]
    finally:
        common.stamp("E", namespace, name)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Only when asked (``--kopf-max-workers``): the size of the thread pool that runs
    # synchronous handlers (kopf's default: ThreadPoolExecutor's, min(32, cores + 4)).
    workers = os.environ.get("BENCH_KOPF_MAX_WORKERS")
    if workers:
        settings.execution.max_workers = int(workers)


@kopf.on.resume(common.GROUP, common.VERSION, common.PLURAL)
@kopf.on.create(common.GROUP, common.VERSION, common.PLURAL)
def created(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    _ensure(body, patch, create_first=True)


@kopf.on.update(common.GROUP, common.VERSION, common.PLURAL)
def updated(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    _ensure(body, patch, create_first=False)
