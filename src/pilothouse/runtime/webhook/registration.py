"""Telling the API server about the webhooks: ``ValidatingWebhookConfiguration`` /
``MutatingWebhookConfiguration`` objects and a CRD's conversion ``clientConfig``.

::

    hooks = [Webhook("vwidget.example.com", "/validate-widgets", [Rule.for_kind(WIDGET)])]
    endpoint = UrlEndpoint.of(server)                       # local run: https://127.0.0.1:<port>
    # endpoint = ServiceEndpoint("widgets-system", "widgets-webhook")   # in a cluster
    config = validating_configuration("widgets", hooks, endpoint, server.ca_pem)
    await apply_configurations(client, [config])
    await patch_crd_conversion(client, "widgets.example.com", server.ca_pem, endpoint=endpoint)

Defaults are the safe ones: ``sideEffects: None`` (so dry-run requests may call the
webhook), ``admissionReviewVersions: [v1]`` (what :mod:`.admission` speaks),
``failurePolicy: Fail``, ``timeoutSeconds: 10``, ``matchPolicy: Equivalent``. ``caBundle`` is
the base64 of the CA PEM, left out when no CA is known (the cluster's trust store is then
used, or cert-manager's ca-injector fills it in).

Objects are written with server-side apply under one field manager (``pilothouse-webhook``),
with ``force`` by default: the operator owns its configurations, and on a CRD it takes over
exactly the conversion fields it sends (strategy, clientConfig, review versions) and nothing
else, as cert-manager's CA injector does. :func:`republish_on_rotation` applies them again
whenever a self-signed CA renews.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.runtime.webhook.review import Obj, Operation
from pilothouse.runtime.webhook.selfsigned import SelfSignedCertificates
from pilothouse.runtime.webhook.server import WebhookServer

log = logging.getLogger(__name__)

FIELD_MANAGER = "pilothouse-webhook"
ADMISSIONREGISTRATION = "admissionregistration.k8s.io/v1"


@dataclass(frozen=True)
class Rule:
    """Which requests a webhook sees (``RuleWithOperations``)."""

    api_groups: Sequence[str]
    api_versions: Sequence[str]
    resources: Sequence[str]
    operations: Sequence[Operation | Literal["*"]] = ("CREATE", "UPDATE")
    scope: Literal["*", "Cluster", "Namespaced"] = "*"

    @classmethod
    def for_kind(
        cls,
        kind: kinds.Kind,
        operations: Sequence[Operation | Literal["*"]] = ("CREATE", "UPDATE"),
        *,
        subresources: Sequence[str] = (),
    ) -> Rule:
        """A rule for one kind (and optionally some of its subresources, e.g. ``status``)."""
        resources = [kind.plural, *(f"{kind.plural}/{s}" for s in subresources)]
        scope: Literal["Cluster", "Namespaced"] = "Namespaced" if kind.namespaced else "Cluster"
        return cls([kind.group], [kind.version], resources, operations, scope)

    def to_json(self) -> Obj:
        return {
            "apiGroups": list(self.api_groups),
            "apiVersions": list(self.api_versions),
            "resources": list(self.resources),
            "operations": list(self.operations),
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Webhook:
    """One webhook entry of a configuration; ``name`` must be fully qualified
    (``vwidget.example.com``), ``path`` is where the :class:`.WebhookServer` serves it."""

    name: str
    path: str
    rules: Sequence[Rule]
    failure_policy: Literal["Fail", "Ignore"] = "Fail"
    side_effects: Literal["None", "NoneOnDryRun"] = "None"
    timeout_seconds: int = 10
    match_policy: Literal["Exact", "Equivalent"] = "Equivalent"
    namespace_selector: Mapping[str, Any] | None = None
    object_selector: Mapping[str, Any] | None = None
    match_conditions: Sequence[Mapping[str, str]] = field(default=())
    #: Mutating webhooks only: ``IfNeeded`` re-runs this webhook after later ones mutated.
    reinvocation_policy: Literal["Never", "IfNeeded"] | None = None


class Endpoint(Protocol):
    """How the API server reaches the webhook server."""

    def client_config(self, path: str, ca_pem: bytes | None) -> Obj: ...


def _with_ca(config: Obj, ca_pem: bytes | None) -> Obj:
    if ca_pem:
        config["caBundle"] = base64.b64encode(ca_pem).decode()
    return config


@dataclass(frozen=True)
class UrlEndpoint:
    """``clientConfig.url``: an API server outside the cluster network (a local run)."""

    port: int
    host: str = "127.0.0.1"

    @classmethod
    def of(cls, server: WebhookServer) -> UrlEndpoint:
        """The endpoint of a started server (its actual port)."""
        host = server.host if server.host not in ("", "0.0.0.0") else "127.0.0.1"
        return cls(server.port, host)

    def client_config(self, path: str, ca_pem: bytes | None) -> Obj:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return _with_ca({"url": f"https://{host}:{self.port}{path}"}, ca_pem)


@dataclass(frozen=True)
class ServiceEndpoint:
    """``clientConfig.service``: the webhook server behind a Service, in the cluster."""

    namespace: str
    name: str
    port: int = 443

    def client_config(self, path: str, ca_pem: bytes | None) -> Obj:
        service = {"namespace": self.namespace, "name": self.name, "path": path, "port": self.port}
        return _with_ca({"service": service}, ca_pem)

    @property
    def dns_names(self) -> list[str]:
        """The names the serving certificate must carry for this Service."""
        base = f"{self.name}.{self.namespace}"
        return [self.name, base, f"{base}.svc", f"{base}.svc.cluster.local"]


def _webhook(hook: Webhook, endpoint: Endpoint, ca_pem: bytes | None, mutating: bool) -> Obj:
    out: Obj = {
        "name": hook.name,
        "clientConfig": endpoint.client_config(hook.path, ca_pem),
        "rules": [r.to_json() for r in hook.rules],
        "failurePolicy": hook.failure_policy,
        "matchPolicy": hook.match_policy,
        "sideEffects": hook.side_effects,
        "admissionReviewVersions": ["v1"],
        "timeoutSeconds": hook.timeout_seconds,
        "namespaceSelector": dict(hook.namespace_selector or {}),
        "objectSelector": dict(hook.object_selector or {}),
    }
    if hook.match_conditions:
        out["matchConditions"] = [dict(c) for c in hook.match_conditions]
    if mutating:
        out["reinvocationPolicy"] = hook.reinvocation_policy or "Never"
    elif hook.reinvocation_policy is not None:
        raise ValueError(f"webhook {hook.name}: reinvocationPolicy is for mutating webhooks")
    return out


def _configuration(
    kind: str,
    name: str,
    webhooks: Sequence[Webhook],
    endpoint: Endpoint,
    ca_pem: bytes | None,
    labels: Mapping[str, str] | None,
) -> Obj:
    names = [h.name for h in webhooks]
    if len(set(names)) != len(names):
        raise ValueError(f"{kind} {name}: webhook names must be unique")
    metadata: Obj = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    mutating = kind.startswith("Mutating")
    return {
        "apiVersion": ADMISSIONREGISTRATION,
        "kind": kind,
        "metadata": metadata,
        "webhooks": [_webhook(h, endpoint, ca_pem, mutating) for h in webhooks],
    }


def validating_configuration(
    name: str,
    webhooks: Sequence[Webhook],
    endpoint: Endpoint,
    ca_pem: bytes | None,
    *,
    labels: Mapping[str, str] | None = None,
) -> Obj:
    """A ``ValidatingWebhookConfiguration`` for ``webhooks``."""
    return _configuration(
        "ValidatingWebhookConfiguration", name, webhooks, endpoint, ca_pem, labels
    )


def mutating_configuration(
    name: str,
    webhooks: Sequence[Webhook],
    endpoint: Endpoint,
    ca_pem: bytes | None,
    *,
    labels: Mapping[str, str] | None = None,
) -> Obj:
    """A ``MutatingWebhookConfiguration`` for ``webhooks``."""
    return _configuration("MutatingWebhookConfiguration", name, webhooks, endpoint, ca_pem, labels)


def crd_conversion(
    crd_name: str,
    ca_pem: bytes | None,
    *,
    endpoint: Endpoint | None = None,
    path: str = "/convert",
) -> Obj:
    """The partial CRD to apply so ``crd_name`` converts through the webhook: the
    ``caBundle`` only, or with ``endpoint`` the whole conversion configuration."""
    client_config: Obj = endpoint.client_config(path, ca_pem) if endpoint else _with_ca({}, ca_pem)
    webhook: Obj = {"clientConfig": client_config}
    if endpoint is not None:
        webhook["conversionReviewVersions"] = ["v1"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {"conversion": {"strategy": "Webhook", "webhook": webhook}},
    }


async def apply_configurations(
    client: client_mod.Client,
    configurations: Sequence[Obj],
    *,
    field_manager: str = FIELD_MANAGER,
    force: bool = True,
) -> list[Obj]:
    """Create or update webhook configurations (server-side apply); the stored objects."""
    applied: list[Obj] = []
    for config in configurations:
        applied.append(await client.apply(config, field_manager=field_manager, force=force))
    return applied


async def patch_crd_conversion(
    client: client_mod.Client,
    crd_name: str,
    ca_pem: bytes | None,
    *,
    endpoint: Endpoint | None = None,
    path: str = "/convert",
    field_manager: str = FIELD_MANAGER,
    force: bool = True,
) -> Obj:
    """Set a CRD's ``spec.conversion.webhook.clientConfig.caBundle`` (and, with
    ``endpoint``, where its conversion webhook is); the updated CRD. The CRD must exist.

    Call it the same way every time: under server-side apply, fields this field manager set
    before and leaves out now are removed (an ``endpoint`` given once and not again would
    remove the URL). Without ``endpoint``, the rest of the conversion settings must come
    from the CRD's own manifest."""
    partial = crd_conversion(crd_name, ca_pem, endpoint=endpoint, path=path)
    result: Obj = await client.apply(partial, field_manager=field_manager, force=force)
    return result


def republish_on_rotation(
    certificates: SelfSignedCertificates, publish: Callable[[], Awaitable[object]]
) -> None:
    """Run ``publish`` (say, :func:`apply_configurations` again with the new ``ca_pem``)
    whenever a rotation leaves a CA bundle other than the last one published (so also after
    the first certificate, if called before the provider started). Must be called on the
    server's event loop. A failed publish is logged and tried again at the next rotation."""
    loop = asyncio.get_running_loop()
    published = [certificates.ca_pem if certificates.loaded else b""]
    tasks: set[asyncio.Task[None]] = set()

    async def run(bundle: bytes) -> None:
        try:
            await publish()
        except Exception:
            log.exception("publishing the renewed webhook CA bundle failed")
        else:
            published[0] = bundle

    def on_rotate() -> None:
        bundle = certificates.ca_pem
        if bundle != published[0]:
            task = loop.create_task(run(bundle))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    certificates.on_rotate.append(on_rotate)
