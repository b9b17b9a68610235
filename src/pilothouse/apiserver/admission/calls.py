"""Calling one webhook: POSTing the ``AdmissionReview`` over verified HTTPS and reading the
answer, with failures (:class:`~.errors.CallError`) worded like Go's.

Behaviour carried over from kube-apiserver:

* The request URL carries ``?timeout=<n>s`` like the real client (default 10s, at most 30s),
  and call errors read like Go's (``Post "<url>": context deadline exceeded``, ``x509:
  certificate signed by unknown authority``, ``dial tcp ...: connect: connection refused``).
* Dry-run requests only go to webhooks whose ``sideEffects`` are ``None``/``NoneOnDryRun``.

Pilothouse specifics: ``clientConfig.service`` cannot be routed (there is no cluster network),
so a ``service_resolver(namespace, name, port)`` returns the base URL (``https://host:port``)
to dial; TLS is still verified against ``<name>.<namespace>.svc`` as the real server does.
Transport (session, TLS contexts, error wording) is :mod:`pilothouse.apiserver.webhookcall`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from pilothouse.api.validation import go_quote
from pilothouse.apiserver import webhookcall
from pilothouse.apiserver.admission.attributes import Attributes, Hook
from pilothouse.apiserver.admission.errors import CallError
from pilothouse.apiserver.admission.review import (
    REVIEW_API_VERSION,
    admission_request,
    verify_response,
)
from pilothouse.apiserver.errors import bad_request
from pilothouse.apiserver.webhookcall import ServiceResolver

_DEFAULT_TIMEOUT = 10
_MAX_TIMEOUT = 30


class WebhookClient:
    """POSTs AdmissionReviews to webhooks; owns the HTTP session and the TLS contexts."""

    def __init__(self, service_resolver: ServiceResolver | None = None) -> None:
        self._transport = webhookcall.WebhookTransport(service_resolver)

    async def close(self) -> None:
        """Close the HTTP session; the client may still be used (it opens a new one)."""
        await self._transport.close()

    async def call(self, hook: Hook, attrs: Attributes, mutating: bool) -> Mapping[str, Any]:
        """POST one AdmissionReview; returns the verified response or raises."""
        spec = hook.spec
        if attrs.dry_run:
            side_effects = spec.get("sideEffects")
            if side_effects is None:
                raise CallError(hook.name, "Webhook SideEffects is nil")
            if side_effects not in ("None", "NoneOnDryRun"):
                raise bad_request(
                    f"admission webhook {go_quote(hook.name)} does not support dry run"
                )
        if "v1" not in (spec.get("admissionReviewVersions") or ["v1"]):
            raise CallError(
                hook.name,
                "could not create admission objects: webhook does not accept known "
                "AdmissionReview versions (v1)",
            )
        timeout = max(1, min(int(spec.get("timeoutSeconds") or _DEFAULT_TIMEOUT), _MAX_TIMEOUT))
        # The real client appends the timeout; webhook URLs may not carry a query of their own.
        query = f"?timeout={timeout}s"
        config = hook.spec.get("clientConfig") or {}
        try:
            ctx = self._transport.ssl_context(str(config.get("caBundle") or ""))
            target = self._transport.target(config, query)
        except webhookcall.MissingClientConfig as e:
            raise CallError(hook.name, f"could not get REST client: {e}") from e
        except webhookcall.UnresolvedService as e:
            raise CallError(hook.name, f"failed to call webhook: {e}") from e
        except webhookcall.TransportError as e:  # a CA bundle that is not PEM
            raise CallError(hook.name, f"could not get REST client: {e}") from e
        uid = str(uuid.uuid4())
        body = orjson.dumps(
            {
                "apiVersion": REVIEW_API_VERSION,
                "kind": "AdmissionReview",
                "request": admission_request(attrs, uid),
            }
        )
        try:
            status, payload = await self._transport.post(target, body, ctx, timeout)
        except webhookcall.TransportError as e:
            raise CallError(hook.name, f"failed to call webhook: {e}") from e
        if not 200 <= status < 300:
            detail = webhookcall.describe_http_error(status, payload)
            raise CallError(hook.name, f"failed to call webhook: {detail}")
        try:
            review = orjson.loads(payload)
        except orjson.JSONDecodeError as e:
            raise CallError(
                hook.name,
                f"failed to call webhook: couldn't get version/kind; json parse error: {e}",
            ) from e
        try:
            return verify_response(review, uid, mutating)
        except ValueError as e:
            raise CallError(hook.name, f"received invalid webhook response: {e}") from e
