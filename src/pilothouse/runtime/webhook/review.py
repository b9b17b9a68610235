"""The wire formats webhooks speak: ``admission.k8s.io/v1`` ``AdmissionReview`` and
``apiextensions.k8s.io/v1`` ``ConversionReview``, as pydantic v2 models.

Design choices:

* Field names are Python's (``old_object``, ``dry_run``); the JSON names are aliases
  (``oldObject``, ``dryRun``), and models accept either. :func:`dump` writes the JSON
  names and leaves out unset/``None`` fields, as Go's ``omitempty`` does.
* Only v1 of each review is modelled: kube-apiserver has sent v1 by default since 1.16,
  and the configurations :mod:`.registration` builds ask for ``[v1]`` only.
* Objects inside reviews stay plain ``dict``\\ s here; typing them is the handlers' job
  (:mod:`.admission`), so a review parses whatever the object's kind.
* Unknown review fields are ignored, so a newer API server's additions do not break an
  older webhook (the Go structs behave the same).
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

ADMISSION_API_VERSION: Final = "admission.k8s.io/v1"
CONVERSION_API_VERSION: Final = "apiextensions.k8s.io/v1"

Obj = dict[str, Any]
ReviewT = TypeVar("ReviewT", bound=BaseModel)
Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class MalformedReview(ValueError):
    """A request body that is not a review a webhook can answer (HTTP 400)."""


def dump(model: BaseModel) -> Obj:
    """The JSON form of a review model: aliases, no ``None`` fields."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse(document: Any, model: type[ReviewT], api_version: str, kind: str) -> ReviewT:
    """``document`` as a review of ``api_version``/``kind``; :class:`MalformedReview` if it
    is something else or does not validate (``apiVersion`` and ``kind`` are required)."""
    if not isinstance(document, dict):
        raise MalformedReview("the request body is not a JSON object")
    got = (document.get("apiVersion"), document.get("kind"))
    if got != (api_version, kind):
        raise MalformedReview(
            f"expected {api_version} {kind}, got apiVersion={got[0]!r} kind={got[1]!r}"
        )
    try:
        review = model.model_validate(document)
    except ValidationError as e:
        raise MalformedReview(f"invalid {kind}: {e}") from e
    if getattr(review, "request", None) is None:
        raise MalformedReview(f"{kind} has no request")
    return review


class GroupVersionKind(_Wire):
    group: str = ""
    version: str = ""
    kind: str = ""


class GroupVersionResource(_Wire):
    group: str = ""
    version: str = ""
    resource: str = ""


class UserInfo(_Wire):
    username: str = ""
    uid: str = ""
    groups: list[str] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)


class Status(_Wire):
    """The parts of ``metav1.Status`` webhooks answer with."""

    status: Literal["Success", "Failure"] | None = None
    code: int | None = None
    reason: str | None = None
    message: str | None = None


class AdmissionRequest(_Wire):
    uid: str = Field(min_length=1)
    kind: GroupVersionKind
    resource: GroupVersionResource
    sub_resource: str | None = None
    request_kind: GroupVersionKind | None = None
    request_resource: GroupVersionResource | None = None
    request_sub_resource: str | None = None
    name: str = ""
    namespace: str = ""
    operation: Operation
    user_info: UserInfo = Field(default_factory=UserInfo)
    object: Obj | None = None
    old_object: Obj | None = None
    dry_run: bool | None = None
    options: Obj | None = None


class AdmissionResponse(_Wire):
    uid: str
    allowed: bool
    status: Status | None = None
    patch: str | None = None
    patch_type: Literal["JSONPatch"] | None = None
    audit_annotations: dict[str, str] | None = None
    warnings: list[str] | None = None


class AdmissionReview(_Wire):
    api_version: Literal["admission.k8s.io/v1"] = ADMISSION_API_VERSION
    kind: Literal["AdmissionReview"] = "AdmissionReview"
    request: AdmissionRequest | None = None
    response: AdmissionResponse | None = None


class ConversionRequest(_Wire):
    uid: str = Field(min_length=1)
    desired_api_version: str = Field(alias="desiredAPIVersion", min_length=1)
    objects: list[Obj] = Field(default_factory=list)


class ConversionResponse(_Wire):
    uid: str
    converted_objects: list[Obj] = Field(default_factory=list)
    result: Status


class ConversionReview(_Wire):
    api_version: Literal["apiextensions.k8s.io/v1"] = CONVERSION_API_VERSION
    kind: Literal["ConversionReview"] = "ConversionReview"
    request: ConversionRequest | None = None
    response: ConversionResponse | None = None
