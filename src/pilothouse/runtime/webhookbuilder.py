"""Webhooks declared with a manager, like controller-runtime's ``NewWebhookManagedBy``::

    mgr.webhook_builder().for_(App).with_validator(validate_app).with_defaulter(default_app)
        .complete()

Each webhook is served by the manager's :class:`~.webhook.server.WebhookServer` at
controller-runtime's paths (``/validate-<group>-<version>-<kind>``, ``/mutate-...``;
dots in the group become dashes), with ``/convert`` for conversion. When the manager runs
with ``webhook_register`` (local runs against any cluster, and ``pilothouse up``), it
registers them itself: a ``ValidatingWebhookConfiguration`` and a
``MutatingWebhookConfiguration`` named after the manager's ``event_source``, pointing at the
server's URL with its CA as ``caBundle``, re-published whenever the self-signed CA rotates;
and each multi-version CRD's ``spec.conversion`` pointed at ``/convert``. In a cluster,
leave registration to the deployment manifests (cert-manager injects the ``caBundle``)
and mount the certificates with ``webhook_cert_dir``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pilothouse.api import kinds
from pilothouse.client import typed
from pilothouse.runtime.webhook import admission, registration
from pilothouse.runtime.webhook import conversion as conversion_mod

if TYPE_CHECKING:
    from pilothouse.runtime import manager as manager_mod

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT", "*"]


class WebhookBuilderError(ValueError):
    pass


def validate_path(kind: kinds.Kind) -> str:
    return f"/validate-{kind.group.replace('.', '-')}-{kind.version}-{kind.kind.lower()}"


def mutate_path(kind: kinds.Kind) -> str:
    return f"/mutate-{kind.group.replace('.', '-')}-{kind.version}-{kind.kind.lower()}"


def webhook_name(prefix: str, kind: kinds.Kind) -> str:
    """A fully qualified name (kube wants three dot-separated segments or more)."""
    group = kind.group or "core"
    if group.count(".") < 1:
        group = f"{group}.pilothouse.dev"
    return f"{prefix}{kind.kind.lower()}.{group}"


@dataclass
class Registered:
    """What the manager registers with the cluster."""

    validating: list[registration.Webhook] = field(default_factory=list)
    mutating: list[registration.Webhook] = field(default_factory=list)
    #: CRD names whose conversion goes to ``/convert``.
    conversions: list[str] = field(default_factory=list)


class WebhookBuilder:
    def __init__(self, manager: manager_mod.Manager) -> None:
        self._manager = manager
        self._kind: kinds.Kind | None = None
        self._model: Any = None
        self._validator: admission.Validator[Any] | None = None
        self._defaulter: admission.Mutator[Any] | None = None
        self._conversion = False
        self._crd_name: str | None = None
        self._operations: Sequence[Operation] = ("CREATE", "UPDATE")
        self._failure_policy: Literal["Fail", "Ignore"] = "Fail"
        self._timeout = 10

    def for_(self, target: Any) -> WebhookBuilder:
        """The kind the webhooks handle; a ``pilothouse.crd`` model class makes handlers
        receive typed objects."""
        try:
            kind = typed.require_kind(target)
        except typed.NotAKind as exc:
            raise WebhookBuilderError(str(exc)) from None
        self._kind = kind
        self._model = (
            target if isinstance(target, type) and hasattr(target, "from_object") else None
        )
        return self

    def with_validator(
        self,
        validator: admission.Validator[Any],
        *,
        operations: Sequence[Operation] = ("CREATE", "UPDATE"),
    ) -> WebhookBuilder:
        self._validator = validator
        self._operations = operations
        return self

    def with_defaulter(self, defaulter: admission.Mutator[Any]) -> WebhookBuilder:
        self._defaulter = defaulter
        return self

    def with_conversion(self, crd_name: str | None = None) -> WebhookBuilder:
        """Convert this kind's versions through ``/convert``, with the converters declared
        on ``manager.conversions``; ``crd_name`` (default ``plural.group``) is the CRD to
        point at it when the manager registers webhooks."""
        self._conversion = True
        self._crd_name = crd_name
        return self

    def with_options(
        self,
        *,
        failure_policy: Literal["Fail", "Ignore"] | None = None,
        timeout_seconds: int | None = None,
    ) -> WebhookBuilder:
        if failure_policy is not None:
            self._failure_policy = failure_policy
        if timeout_seconds is not None:
            self._timeout = timeout_seconds
        return self

    def complete(self) -> None:
        kind = self._kind
        if kind is None:
            raise WebhookBuilderError("a webhook needs for_(kind)")
        if self._validator is None and self._defaulter is None and not self._conversion:
            raise WebhookBuilderError("give a validator, a defaulter or a conversion")
        server = self._manager.webhook_server()
        reg = self._manager.registered_webhooks
        if self._validator is not None:
            path = validate_path(kind)
            server.register(path, admission.ValidatingWebhook(self._validator, self._model))
            rule = registration.Rule.for_kind(kind, self._operations)
            reg.validating.append(self._hook("v", kind, path, rule))
        if self._defaulter is not None:
            path = mutate_path(kind)
            server.register(path, admission.MutatingWebhook(self._defaulter, self._model))
            rule = registration.Rule.for_kind(kind, ("CREATE", "UPDATE"))
            reg.mutating.append(self._hook("m", kind, path, rule))
        if self._conversion:
            if "/convert" not in server.paths:
                server.register(
                    "/convert", conversion_mod.ConversionWebhook(self._manager.conversions)
                )
            reg.conversions.append(self._crd_name or f"{kind.plural}.{kind.group}")

    def _hook(
        self, prefix: str, kind: kinds.Kind, path: str, rule: registration.Rule
    ) -> registration.Webhook:
        return registration.Webhook(
            name=webhook_name(prefix, kind),
            path=path,
            rules=[rule],
            failure_policy=self._failure_policy,
            timeout_seconds=self._timeout,
        )
