"""The test harness of the admission tests: a real local HTTPS webhook server and builders
of webhook configurations, AdmissionReview answers and request attributes.

The server (aiohttp on 127.0.0.1, certificate from pilothouse.pki) answers per URL path with
a behaviour chosen by the test and records every AdmissionReview it receives. Its fixtures
(``server``, ``webhooks``, ``dispatcher``) live in ``conftest.py`` next to this module.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from pilothouse.apiserver.admission import Attributes
from pilothouse.apiserver.resources import ResourceType
from pilothouse.pki import CertificateAuthority, issue_server_cert

PODS = ResourceType("", "v1", "Pod", "pods", "pod", True, subresources=("status",))
NAMESPACES = ResourceType("", "v1", "Namespace", "namespaces", "namespace", False)
NODES = ResourceType("", "v1", "Node", "nodes", "node", False)
DEPLOYMENTS = ResourceType("apps", "v1", "Deployment", "deployments", "deployment", True)
VWC = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "ValidatingWebhookConfiguration",
    "validatingwebhookconfigurations",
    "validatingwebhookconfiguration",
    False,
)
ALL = {"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"]}

CA = CertificateAuthority.generate("webhook-ca")
OTHER_CA = CertificateAuthority.generate("other-ca")
SERVING = issue_server_cert(CA, ["127.0.0.1", "localhost", "hooks.webhooks.svc"])

Behaviour = Callable[[dict[str, Any]], dict[str, Any] | web.Response]


def respond(request: dict[str, Any], **response: Any) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": request["uid"], **response},
    }


def json_patch(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"patchType": "JSONPatch", "patch": base64.b64encode(orjson.dumps(ops)).decode()}


@dataclass
class Server:
    url: str
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def called(self, path: str) -> int:
        return sum(1 for p, _, _ in self.calls if p == path)

    def requests(self, path: str) -> list[dict[str, Any]]:
        return [r["request"] for p, r, _ in self.calls if p == path]


@dataclass
class Cluster:
    """Webhook configurations plus a dispatcher reading them."""

    server: Server
    configs: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"mutating": [], "validating": []}
    )

    def hook(self, name: str, path: str, **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": name,
            "clientConfig": {
                "url": f"{self.server.url}/{path}",
                "caBundle": base64.b64encode(CA.cert_pem).decode(),
            },
            "rules": [ALL],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }
        spec.update(extra)
        return spec

    def add(self, which: str, config: str, *hooks: dict[str, Any]) -> None:
        self.configs[which].append({"metadata": {"name": config}, "webhooks": list(hooks)})


def pod(name: str = "web", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {}}


def attrs(
    obj: dict[str, Any] | None = None,
    *,
    operation: str = "CREATE",
    resource: ResourceType = PODS,
    old: dict[str, Any] | None = None,
    namespace: str = "default",
    subresource: str = "",
    ns_labels: dict[str, str] | None = None,
    dry_run: bool = False,
) -> Attributes:
    if obj is None and operation != "DELETE":
        obj = pod()
    source = obj if obj is not None else old
    name = source["metadata"]["name"] if source else ""
    return Attributes(
        operation=operation,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
        obj=obj,
        old_obj=old,
        dry_run=dry_run,
        options={"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        user_info={"username": "alice", "groups": ["devs", "system:authenticated"]},
        namespace_labels={} if ns_labels is None and namespace else ns_labels,
    )
