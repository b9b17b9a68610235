"""The ``admission.k8s.io/v1`` ``AdmissionReview`` wire format: the ``AdmissionRequest``
sent for a request's :class:`~.attributes.Attributes` and the verification of a webhook's
answer (``VerifyAdmissionResponse``).

Design choice: only ``admission.k8s.io/v1`` is spoken; a response of any other version,
kind or uid is invalid, with the real server's wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pilothouse.api.validation import go_quote
from pilothouse.apiserver.admission.attributes import Attributes

REVIEW_API_VERSION = "admission.k8s.io/v1"


def _request_kind(attrs: Attributes) -> dict[str, str]:
    r = attrs.resource
    obj = attrs.obj
    # Subresources such as scale or eviction carry their own kind (autoscaling/v1 Scale).
    if attrs.subresource and obj and obj.get("kind") and obj.get("apiVersion"):
        group, _, version = str(obj["apiVersion"]).rpartition("/")
        return {"group": group, "version": version, "kind": str(obj["kind"])}
    return {"group": r.group, "version": r.version, "kind": r.kind}


def admission_request(attrs: Attributes, uid: str) -> dict[str, Any]:
    """The ``AdmissionRequest`` sent for ``attrs``."""
    r = attrs.resource
    kind = _request_kind(attrs)
    resource = {"group": r.group, "version": r.version, "resource": r.plural}
    request: dict[str, Any] = {
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": dict(kind),
        "requestResource": dict(resource),
        "name": attrs.name,
        "namespace": attrs.namespace,
        "operation": attrs.operation,
        "userInfo": attrs.user_info,
        "object": attrs.obj,
        "oldObject": attrs.old_obj,
        "dryRun": attrs.dry_run,
        "options": attrs.options,
    }
    if attrs.subresource:
        request["subResource"] = attrs.subresource
        request["requestSubResource"] = attrs.subresource
    return request


def verify_response(review: Any, uid: str, mutating: bool) -> Mapping[str, Any]:
    """``VerifyAdmissionResponse``; raises ValueError with the real server's wording."""
    response = review.get("response") if isinstance(review, Mapping) else None
    if not isinstance(response, Mapping):
        raise ValueError("webhook response was absent")
    if response.get("uid") != uid:
        raise ValueError(
            f"expected response.uid={go_quote(uid)}, got {go_quote(str(response.get('uid', '')))}"
        )
    api_version, kind = str(review.get("apiVersion", "")), str(review.get("kind", ""))
    if (api_version, kind) != (REVIEW_API_VERSION, "AdmissionReview"):
        group, _, version = api_version.rpartition("/")
        raise ValueError(
            f"expected webhook response of {REVIEW_API_VERSION}, Kind=AdmissionReview, "
            f"got {group}/{version}, Kind={kind}"
        )
    patch, patch_type = response.get("patch"), response.get("patchType")
    if mutating:
        if patch and patch_type is None:
            raise ValueError("webhook returned response.patch but not response.patchType")
        if not patch and patch_type is not None:
            raise ValueError("webhook returned response.patchType but not response.patch")
        if patch_type is not None and not patch_type:
            raise ValueError('webhook returned invalid response.patchType of ""')
    else:
        if patch:
            raise ValueError("validating webhook may not return response.patch")
        if patch_type is not None:
            raise ValueError("validating webhook may not return response.patchType")
    return response


def warnings_of(response: Mapping[str, Any]) -> list[str]:
    """The warnings of an ``AdmissionResponse``, as strings."""
    return [str(w) for w in response.get("warnings") or ()]
