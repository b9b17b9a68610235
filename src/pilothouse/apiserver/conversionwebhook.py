"""Custom resource conversion through a CRD's conversion webhook (``strategy: Webhook``).

When a custom resource is read or written in a version other than the one it is stored in,
kube-apiserver POSTs an ``apiextensions.k8s.io/v1`` ``ConversionReview`` to the webhook in
``spec.conversion.webhook.clientConfig`` and uses the objects it returns. This module does
the same (apiextensions-apiserver ``pkg/apiserver/conversion/webhook_converter.go``):

* objects already in the desired version are not sent; the request carries a fresh uid,
  ``desiredAPIVersion`` and the objects as stored;
* the URL gets ``?timeout=30s`` and the call is abandoned after 30 seconds (conversion
  webhooks have no configurable timeout); TLS is verified against ``caBundle``; a
  ``service`` reference goes through the same resolver as admission webhooks
  (:mod:`.admission.calls`: not routable unless one is configured);
* the answer is checked as kube checks it (review kind, uid, ``result.status``, object
  count, each object's ``apiVersion``, ``kind``, name, namespace and uid), and each
  object's ``metadata`` is restored from the original except ``labels`` and
  ``annotations`` (which are validated);
* any failure fails the request with 500 and kube's message, ``conversion webhook for
  <group>/<version>, Kind=<kind> failed: <why>`` (``<why>`` is the webhook's own
  ``result.message`` when it answered ``Failure``).

Pilothouse specifics: the served versions of such a CRD carry their :class:`Conversion` on
their ``ResourceType.crd_version`` (a :class:`ServedVersion`, set up by :mod:`.crds`), so
:mod:`.conversion` finds it without a registry. Each server owns one
:class:`WebhookConverter` (closed with the CRD controller).

Conversions are coroutines on the API server's event loop (:meth:`Conversion.convert`, which
the ``*_async`` functions of :mod:`.conversion` call from the REST handlers): while a webhook
answers, only the requests waiting for it wait, and a webhook served from the API server's
own event loop (an operator test running server, manager and webhook server in one loop)
answers like any other.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from pilothouse.api import validation
from pilothouse.api.validation import go_quote
from pilothouse.apiserver import resources, webhookcall
from pilothouse.apiserver.errors import ApiError
from pilothouse.apiserver.webhookcall import ServiceResolver

Obj = dict[str, Any]

REVIEW_API_VERSION = "apiextensions.k8s.io/v1"
#: kube-apiserver's fixed timeout for conversion webhooks, in seconds.
TIMEOUT = 30


class ConversionFailed(Exception):
    """A conversion that failed; the message is kube's ``<why>``."""


def conversion_error(obj: Mapping[str, Any], why: str) -> ApiError:
    """The API error for a failed conversion of ``obj``: 500, no reason (a plain Go error)."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    gvk = f"{group}/{version}, Kind={obj.get('kind', '')}"
    return ApiError(500, "", f"conversion webhook for {gvk} failed: {why}")


@dataclass(frozen=True, eq=False)
class Conversion:
    """A CRD's webhook conversion settings, bound to the server's converter."""

    crd_name: str
    client_config: Mapping[str, Any]
    review_versions: tuple[str, ...]
    converter: WebhookConverter

    async def convert(self, objects: Sequence[Obj], desired_api_version: str) -> list[Obj]:
        """Convert on the caller's event loop; raises :class:`ApiError`."""
        todo = [o for o in objects if o.get("apiVersion") != desired_api_version]
        if not todo:
            return list(objects)
        try:
            done = await self.converter.run(_Call(self, todo, desired_api_version))
        except ConversionFailed as e:
            raise conversion_error(todo[0], str(e)) from None
        return _merge(objects, done, desired_api_version)


def _merge(objects: Sequence[Obj], converted: list[Obj], desired: str) -> list[Obj]:
    it = iter(converted)
    return [o if o.get("apiVersion") == desired else next(it) for o in objects]


@dataclass(frozen=True)
class _Call:
    """One ConversionReview to send (what :class:`ConversionClient` needs)."""

    conversion: Conversion
    objects: list[Obj]
    desired: str


class ServedVersion(dict[str, Any]):
    """A CRD's ``spec.versions[]`` entry that also carries the CRD's webhook conversion."""

    def __init__(self, version: Mapping[str, Any], conversion: Conversion) -> None:
        super().__init__(version)
        self.conversion = conversion


def served_version(version: Mapping[str, Any], conversion: Conversion | None) -> Mapping[str, Any]:
    """``version`` as :mod:`.crds` serves it: tagged with ``conversion`` when there is one."""
    return version if conversion is None else ServedVersion(version, conversion)


def webhook_of(rt: resources.ResourceType) -> Conversion | None:
    """The webhook conversion of a custom resource type, if its CRD has one."""
    version = rt.crd_version
    return version.conversion if isinstance(version, ServedVersion) else None


def _check_converted(i: int, original: Obj, converted: Any, desired: str) -> Obj:
    """``validateConvertedObject`` and ``restoreObjectMeta``; raises ConversionFailed."""
    at = f"returned invalid converted object at index {i}"
    if not isinstance(converted, dict):
        raise ConversionFailed(f"{at}: not an object")
    got = str(converted.get("apiVersion", ""))
    if got != desired:
        raise ConversionFailed(f"{at}: invalid groupVersion (expected {desired}, received {got})")
    if converted.get("kind") != original.get("kind"):
        raise ConversionFailed(
            f"{at}: invalid kind (expected {original.get('kind')}, "
            f"received {converted.get('kind')})"
        )
    meta_in = original.get("metadata") or {}
    meta_out = converted.get("metadata")
    if not isinstance(meta_out, dict):
        raise ConversionFailed(
            f"returned invalid metadata in object at index {i}: missing metadata in converted "
            "object"
        )
    for name, what in (("name", "name"), ("namespace", "namespace"), ("uid", "UID")):
        if (meta_in.get(name) or "") != (meta_out.get(name) or ""):
            raise ConversionFailed(
                f"{at}: must have the same {what}: {meta_in.get(name) or ''} != "
                f"{meta_out.get(name) or ''}"
            )
    meta = orjson.loads(orjson.dumps(meta_in))
    for name, check in (
        ("labels", validation.validate_labels),
        ("annotations", validation.validate_annotations),
    ):
        value = meta_out.get(name)
        if value is None:
            meta.pop(name, None)
            continue
        bad = f"returned invalid metadata in object at index {i}"
        if not isinstance(value, dict):
            raise ConversionFailed(f"{bad}: invalid metadata.{name} of type {type(value)}")
        for key, item in value.items():
            if not isinstance(item, str):
                raise ConversionFailed(f"{bad}: metadata.{name}[{key}] must be a string")
        if value != meta_in.get(name):
            errors = check(value, f"metadata.{name}")
            if errors:
                raise ConversionFailed(f"{bad}: {'; '.join(str(e) for e in errors)}")
        meta[name] = value
    return {**converted, "metadata": meta}


def _verify(review: Any, uid: str, call: _Call) -> list[Obj]:
    """``getConvertedObjectsFromResponse`` plus the per-object checks."""
    if not isinstance(review, dict):
        raise ConversionFailed("expected a ConversionReview object")
    api_version, kind = str(review.get("apiVersion", "")), str(review.get("kind", ""))
    if (api_version, kind) != (REVIEW_API_VERSION, "ConversionReview"):
        group, _, version = api_version.rpartition("/")
        raise ConversionFailed(
            f"expected webhook response of {REVIEW_API_VERSION}, Kind=ConversionReview, "
            f"got {group}/{version}, Kind={kind}"
        )
    response = review.get("response")
    if not isinstance(response, dict):
        raise ConversionFailed("no response provided")
    if response.get("uid") != uid:
        raise ConversionFailed(
            f"expected response.uid={go_quote(uid)}, got {go_quote(str(response.get('uid', '')))}"
        )
    result = response.get("result") or {}
    status = result.get("status") if isinstance(result, dict) else None
    if status != "Success":
        message = result.get("message") if isinstance(result, dict) else None
        raise ConversionFailed(
            str(message)
            if message
            else f"response.result.status was '{status or ''}', not 'Success'"
        )
    converted = response.get("convertedObjects") or []
    if not isinstance(converted, list) or len(converted) != len(call.objects):
        count = len(converted) if isinstance(converted, list) else 0
        raise ConversionFailed(f"returned {count} objects, expected {len(call.objects)}")
    return [
        _check_converted(i, original, out, call.desired)
        for i, (original, out) in enumerate(zip(call.objects, converted, strict=True))
    ]


class ConversionClient:
    """POSTs ConversionReviews through a :class:`~.webhookcall.WebhookTransport`."""

    def __init__(self, service_resolver: ServiceResolver | None = None) -> None:
        self._transport = webhookcall.WebhookTransport(service_resolver)

    async def close(self) -> None:
        await self._transport.close()

    async def convert(self, call: _Call) -> list[Obj]:
        """Send one review; the checked converted objects, or :class:`ConversionFailed`."""
        conversion = call.conversion
        if "v1" not in conversion.review_versions:
            raise ConversionFailed("webhook does not accept known ConversionReview versions (v1)")
        config = conversion.client_config
        uid = str(uuid.uuid4())
        body = orjson.dumps(
            {
                "apiVersion": REVIEW_API_VERSION,
                "kind": "ConversionReview",
                "request": {"uid": uid, "desiredAPIVersion": call.desired, "objects": call.objects},
            }
        )
        try:
            ctx = self._transport.ssl_context(str(config.get("caBundle") or ""))
            target = self._transport.target(config, f"?timeout={TIMEOUT}s")
            status, payload = await self._transport.post(target, body, ctx, TIMEOUT)
        except webhookcall.TransportError as e:
            raise ConversionFailed(str(e)) from e
        if not 200 <= status < 300:
            raise ConversionFailed(webhookcall.describe_http_error(status, payload))
        try:
            review = orjson.loads(payload)
        except orjson.JSONDecodeError as e:
            raise ConversionFailed(f"couldn't get version/kind; json parse error: {e}") from e
        return _verify(review, uid, call)


class WebhookConverter:
    """A server's conversion webhook calls, made by one client on the server's event loop."""

    def __init__(self, service_resolver: ServiceResolver | None = None) -> None:
        self._client = ConversionClient(service_resolver)

    def conversion(self, crd: Mapping[str, Any]) -> Conversion | None:
        """The webhook conversion a CRD object configures (None unless ``Webhook``)."""
        conversion = (crd.get("spec") or {}).get("conversion") or {}
        if conversion.get("strategy") != "Webhook":
            return None
        webhook = conversion.get("webhook") or {}
        return Conversion(
            crd_name=str((crd.get("metadata") or {}).get("name", "")),
            client_config=dict(webhook.get("clientConfig") or {}),
            review_versions=tuple(str(v) for v in webhook.get("conversionReviewVersions") or ()),
            converter=self,
        )

    async def run(self, call: _Call) -> list[Obj]:
        return await self._client.convert(call)

    async def close(self) -> None:
        """Close the client; idempotent."""
        await self._client.close()
