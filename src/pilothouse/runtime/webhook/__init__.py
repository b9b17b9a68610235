"""Webhooks for operators: admission (validating, mutating) and CRD conversion, served over
HTTPS with managed certificates and registered with the cluster -- controller-runtime's
``pkg/webhook`` in Python.

What is where:

* :mod:`.review` -- the wire formats (``AdmissionReview`` v1, ``ConversionReview`` v1) as
  pydantic models, and :class:`MalformedReview` for bodies that are neither;
* :mod:`.admission` -- :class:`Validator` / :class:`Mutator` handler protocols, the
  :class:`Admission` a handler receives, :class:`Verdict` and :class:`Denied`, and the
  :class:`ValidatingWebhook` / :class:`MutatingWebhook` that turn reviews into calls (typed
  with a pydantic model when given one) and results into responses;
* :mod:`.jsonpatch` -- RFC 6902 patch generation (the minimal diff a mutating webhook sends);
* :mod:`.conversion` -- hub-and-spoke converters (:class:`ConversionRegistry`) and the
  :class:`ConversionWebhook` answering ``ConversionReview``\\ s;
* :mod:`.server` -- :class:`WebhookServer`, the aiohttp HTTPS server with per-path handlers,
  controller-runtime's metrics and a readiness check; :mod:`.metrics` names the metrics;
* :mod:`.certs` -- :class:`CertificateProvider`, certificates from a directory
  (:class:`DirectoryCertificates`, e.g. a cert-manager Secret) reloaded on change;
  :mod:`.selfsigned` -- :class:`SelfSignedCertificates`, a CA and serving certificate of
  its own, renewed before expiry (the CA in two steps);
* :mod:`.registration` -- ``Validating``/``MutatingWebhookConfiguration`` builders,
  ``url``/``service`` endpoints with the ``caBundle``, applying them through the Pilothouse
  client, and pointing a CRD's conversion at the webhook.

A minimal operator webhook::

    server = WebhookServer("127.0.0.1", 9443)
    server.register("/validate-widgets", ValidatingWebhook(validate_widget))
    async with server, Client(config) as client:
        hook = Webhook("vwidget.example.com", "/validate-widgets", [Rule.for_kind(WIDGET)])
        endpoint = UrlEndpoint.of(server)
        await apply_configurations(
            client, [validating_configuration("widgets", [hook], endpoint, server.ca_pem)]
        )
        ...

Layering: this package uses :mod:`pilothouse.api`, :mod:`pilothouse.client` and
:mod:`pilothouse.pki`, never the API server (whose side of conversion webhooks is
:mod:`pilothouse.apiserver.conversionwebhook`).
"""

from __future__ import annotations

from pilothouse.runtime.webhook.admission import (
    Admission,
    Denied,
    MutatingWebhook,
    Mutator,
    ValidatingWebhook,
    Validator,
    Verdict,
)
from pilothouse.runtime.webhook.certs import CertificateProvider, DirectoryCertificates
from pilothouse.runtime.webhook.conversion import (
    ConversionError,
    ConversionRegistry,
    ConversionWebhook,
    KindConverters,
)
from pilothouse.runtime.webhook.registration import (
    Rule,
    ServiceEndpoint,
    UrlEndpoint,
    Webhook,
    apply_configurations,
    crd_conversion,
    mutating_configuration,
    patch_crd_conversion,
    republish_on_rotation,
    validating_configuration,
)
from pilothouse.runtime.webhook.review import (
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReview,
    ConversionReview,
    MalformedReview,
)
from pilothouse.runtime.webhook.selfsigned import SelfSignedCertificates
from pilothouse.runtime.webhook.server import NotReady, WebhookServer

__all__ = [
    "Admission",
    "AdmissionRequest",
    "AdmissionResponse",
    "AdmissionReview",
    "CertificateProvider",
    "ConversionError",
    "ConversionRegistry",
    "ConversionReview",
    "ConversionWebhook",
    "Denied",
    "DirectoryCertificates",
    "KindConverters",
    "MalformedReview",
    "MutatingWebhook",
    "Mutator",
    "NotReady",
    "Rule",
    "SelfSignedCertificates",
    "ServiceEndpoint",
    "UrlEndpoint",
    "ValidatingWebhook",
    "Validator",
    "Verdict",
    "Webhook",
    "WebhookServer",
    "apply_configurations",
    "crd_conversion",
    "mutating_configuration",
    "patch_crd_conversion",
    "republish_on_rotation",
    "validating_configuration",
]
