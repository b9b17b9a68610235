"""Dynamic admission: calling mutating and validating webhooks the way kube-apiserver does.

:class:`Dispatcher` reads the current ``MutatingWebhookConfiguration`` /
``ValidatingWebhookConfiguration`` objects on every request, picks the webhooks whose
``rules``, ``namespaceSelector``, ``objectSelector`` and ``matchConditions`` match, POSTs an
``admission.k8s.io/v1`` ``AdmissionReview`` to each over verified HTTPS, and turns the
answers into a mutated object, warnings, or an :class:`ApiError` worded like the real server
(k8s.io/apiserver/pkg/admission/plugin/webhook: generic, mutating, validating, errors).

The package, one concern per module:

* :mod:`.dispatcher` -- ordering, parallel validation, ``failurePolicy``, reinvocation and
  applying the JSON patches mutating webhooks return;
* :mod:`.matching` -- exempt kinds, rules, namespace/object selectors and ``matchConditions``;
* :mod:`.calls` -- one HTTPS call: URL and service routing, TLS, timeouts, Go-worded errors;
* :mod:`.review` -- the ``AdmissionReview`` request and the verification of its response;
* :mod:`.errors` -- internal errors, call failures and denials as API errors;
* :mod:`.attributes` -- the request's :class:`Attributes` and the configured :class:`Hook`.

A denial keeps the webhook's ``status``: code (below 400 becomes 400), reason, details,
message prefixed ``admission webhook "<name>" denied the request: ``.

Pilothouse specifics: ``clientConfig.service`` cannot be routed (there is no cluster network),
so a ``service_resolver(namespace, name, port)`` returns the base URL (``https://host:port``)
to dial; TLS is still verified against ``<name>.<namespace>.svc`` as the real server does.
Only ``admissionReviewVersions: [v1]`` is spoken. ``matchConditions`` are evaluated with
cel-python (variables ``object``, ``oldObject``, ``request``; ``authorizer`` is not offered).
Audit annotations are ignored.
"""

from __future__ import annotations

from pilothouse.apiserver.admission.attributes import Attributes, Hook
from pilothouse.apiserver.admission.dispatcher import Dispatcher
from pilothouse.apiserver.admission.matching import rule_matches
from pilothouse.apiserver.admission.review import admission_request
from pilothouse.apiserver.webhookcall import ServiceResolver

__all__ = [
    "Attributes",
    "Dispatcher",
    "Hook",
    "ServiceResolver",
    "admission_request",
    "rule_matches",
]
