"""Typed admission webhooks: :class:`Validator` and :class:`Mutator` handlers, and the
:class:`ValidatingWebhook` / :class:`MutatingWebhook` that turn ``AdmissionReview``\\ s into
calls to them and their results into responses.

Writing a handler::

    async def validate(admission: Admission[dict[str, Any]]) -> Verdict | None:
        if admission.object and admission.object["spec"].get("replicas", 0) > 10:
            raise Denied("spec.replicas: at most 10")
        return Verdict.allow("replicas above 5 are slow")   # allowed, with a warning

    async def mutate(obj: Widget, admission: Admission[Widget]) -> Widget:
        obj.spec.size = obj.spec.size or 3
        return obj

    server.register("/validate-widgets", ValidatingWebhook(validate))
    server.register("/mutate-widgets", MutatingWebhook(mutate, model=Widget))

Guarantees:

* A handler never crashes the webhook: an exception becomes a denial with code 500 and the
  message ``internal error in webhook handler: <Type>: <message>`` (logged with its
  traceback); an object the model cannot parse becomes a denial with code 400. A malformed
  review (not an ``admission.k8s.io/v1`` ``AdmissionReview`` with a request) raises
  :class:`MalformedReview`, which the server answers with HTTP 400.
* Mutators receive a private deep copy; they may edit it in place (returning ``None``) or
  return a new object. The response carries an RFC 6902 patch touching only what changed
  (:mod:`.jsonpatch`), base64-encoded with ``patchType: JSONPatch``, or no patch at all when
  nothing changed.
* With a model class, only what the handler changed is patched: the model's dump of the
  object *before* the mutator ran is compared with its dump *after*, and those changes are
  merged into the object as received (a three-way merge of JSON objects; a changed array or
  scalar is taken whole from the model). Fields the model does not declare, normalises or
  defaults are therefore left exactly as they were, where a plain "diff the received object
  against the dumped model" (controller-runtime's approach) would remove unknown fields and
  add every default.

Operations: ``CREATE`` carries ``object``; ``UPDATE`` carries ``object`` and ``old_object``;
``DELETE`` carries only ``old_object`` (mutators are not called: there is nothing to
patch); ``CONNECT``'s object is the connect options (``PodExecOptions``...), left untyped in
``admission.request.object`` with ``admission.object`` ``None``. ``admission.dry_run`` says
whether the request is a dry run; a handler with side effects must skip them then (the
configurations :mod:`.registration` builds declare ``sideEffects: None``).

A model class is a pydantic ``BaseModel`` (parsed with ``model_validate``, dumped with
``model_dump(mode="json", by_alias=True, exclude_none=True)``, so setting a field to
``None`` removes it) or any class with ``from_object``/``to_object`` (Pilothouse's
custom-resource models).
"""

from __future__ import annotations

import abc
import base64
import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast, overload

import orjson
import pydantic

from pilothouse.runtime.webhook import jsonpatch
from pilothouse.runtime.webhook.review import (
    ADMISSION_API_VERSION,
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReview,
    Obj,
    Operation,
    Status,
    dump,
    parse,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
}


class Denied(Exception):
    """Raised by a handler to refuse the request; ``code`` becomes the API error's code."""

    def __init__(
        self,
        message: str,
        *,
        code: int = 403,
        reason: str | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.warnings = tuple(warnings)


@dataclass(frozen=True)
class Verdict:
    """A validator's answer: allowed or denied, with a message and warnings."""

    allowed: bool
    message: str = ""
    code: int | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()

    @classmethod
    def allow(cls, *warnings: str) -> Verdict:
        return cls(True, warnings=warnings)

    @classmethod
    def deny(
        cls,
        message: str,
        *,
        code: int = 403,
        reason: str | None = None,
        warnings: Sequence[str] = (),
    ) -> Verdict:
        return cls(False, message, code, reason, tuple(warnings))


@dataclass
class Admission(Generic[T]):
    """One admission request as a handler sees it, with the objects decoded."""

    request: AdmissionRequest
    object: T | None
    old_object: T | None
    warnings: list[str] = field(default_factory=list)

    @property
    def operation(self) -> Operation:
        return self.request.operation

    @property
    def dry_run(self) -> bool:
        return bool(self.request.dry_run)

    @property
    def name(self) -> str:
        return self.request.name

    @property
    def namespace(self) -> str:
        return self.request.namespace

    def warn(self, message: str) -> None:
        """Add a warning the client will print (``Warning: ...`` in kubectl)."""
        self.warnings.append(message)


class Validator(Protocol[T]):
    """Decides on a request; returns a :class:`Verdict` (``None``: allowed) or raises
    :class:`Denied`."""

    async def __call__(self, admission: Admission[T], /) -> Verdict | None: ...


class Mutator(Protocol[T]):
    """Returns the object as it should be stored (``None``: the argument, edited in place);
    may raise :class:`Denied`."""

    async def __call__(self, obj: T, admission: Admission[T], /) -> T | None: ...


class _Codec(Generic[T]):
    """Turns review objects into handler objects and back (identity for dicts)."""

    def __init__(self, model: type[T] | None) -> None:
        self.model = model

    def decode(self, obj: Obj) -> T:
        """A private copy: handlers may change it without touching the review (a model's
        ``Any`` fields would otherwise share the review's containers)."""
        model: Any = self.model
        private = copy.deepcopy(obj)
        if model is None:
            return cast(T, private)
        if hasattr(model, "from_object"):
            return cast(T, model.from_object(private))
        return cast(T, model.model_validate(private))

    def encode(self, value: T) -> Obj:
        if isinstance(value, dict):
            return value
        to_object = getattr(value, "to_object", None)
        if callable(to_object):
            return cast(Obj, to_object())
        if isinstance(value, pydantic.BaseModel):
            return value.model_dump(mode="json", by_alias=True, exclude_none=True)
        raise TypeError(f"cannot encode a {type(value).__name__} as a JSON object")


_MISSING: Any = object()


def three_way_merge(original: Any, baseline: Any, mutated: Any) -> Any:
    """``original`` with the changes that turned ``baseline`` into ``mutated`` applied.

    Objects merge member by member; any other changed value (array, scalar) is taken from
    ``mutated`` whole. Unchanged parts come from ``original`` untouched.
    """
    if jsonpatch.json_equal(baseline, mutated):
        return original
    if not (isinstance(baseline, dict) and isinstance(mutated, dict)):
        return mutated
    start: dict[str, Any] = original if isinstance(original, dict) else {}
    result = dict(start)
    for key in baseline.keys() - mutated.keys():
        result.pop(key, None)
    for key, value in mutated.items():
        if key not in baseline:
            result[key] = value
        elif key in start or not jsonpatch.json_equal(baseline[key], value):
            result[key] = three_way_merge(start.get(key, _MISSING), baseline[key], value)
    return result


def parse_admission_review(document: Any) -> AdmissionRequest:
    """The request of an ``admission.k8s.io/v1`` review; :class:`MalformedReview` if not."""
    review = parse(document, AdmissionReview, ADMISSION_API_VERSION, "AdmissionReview")
    assert review.request is not None
    return review.request


def _denial(uid: str, message: str, code: int, reason: str | None) -> AdmissionResponse:
    status = Status(code=code, reason=reason or _REASONS.get(code), message=message)
    return AdmissionResponse(uid=uid, allowed=False, status=status)


def _review(response: AdmissionResponse, warnings: Sequence[str]) -> Obj:
    if warnings:
        response.warnings = list(warnings)
    return dump(AdmissionReview(response=response))


def _internal(uid: str, what: str, e: BaseException) -> AdmissionResponse:
    log.exception("%s failed for request %s", what, uid)
    return _denial(uid, f"internal error in webhook handler: {type(e).__name__}: {e}", 500, None)


class _AdmissionWebhook(abc.ABC, Generic[T]):
    def __init__(self, model: type[T] | None) -> None:
        self._codec: _Codec[T] = _Codec(model)

    def _admission(self, request: AdmissionRequest) -> Admission[T]:
        typed = request.operation != "CONNECT"
        obj = request.object if typed else None
        old = request.old_object if typed else None
        return Admission(
            request,
            self._codec.decode(obj) if obj is not None else None,
            self._codec.decode(old) if old is not None else None,
        )

    async def serve(self, document: Any) -> Obj:
        """Answer one decoded review document; raises :class:`MalformedReview`."""
        request = parse_admission_review(document)
        try:
            admission = self._admission(request)
        except (pydantic.ValidationError, ValueError, TypeError) as e:
            message = f"cannot decode the object: {e}"
            return _review(_denial(request.uid, message, 400, None), ())
        try:
            response = await self._decide(admission)
        except Denied as e:
            response = _denial(request.uid, e.message, e.code, e.reason)
            admission.warnings.extend(e.warnings)
        except Exception as e:
            response = _internal(request.uid, type(self).__name__, e)
        return _review(response, admission.warnings)

    @abc.abstractmethod
    async def _decide(self, admission: Admission[T]) -> AdmissionResponse:
        """Validating and mutating webhooks answer differently."""


class ValidatingWebhook(_AdmissionWebhook[T]):
    """Serves a :class:`Validator`, optionally with the objects decoded into ``model``."""

    @overload
    def __init__(
        self: ValidatingWebhook[Obj], validator: Validator[Obj], model: None = None
    ) -> None: ...
    @overload
    def __init__(self, validator: Validator[T], model: type[T]) -> None: ...
    def __init__(self, validator: Validator[Any], model: type[Any] | None = None) -> None:
        super().__init__(model)
        self._validator = validator

    async def _decide(self, admission: Admission[T]) -> AdmissionResponse:
        uid = admission.request.uid
        verdict = await self._validator(admission) or Verdict.allow()
        admission.warnings.extend(verdict.warnings)
        if verdict.allowed:
            return AdmissionResponse(uid=uid, allowed=True)
        return _denial(uid, verdict.message, verdict.code or 403, verdict.reason)


class MutatingWebhook(_AdmissionWebhook[T]):
    """Serves a :class:`Mutator`, optionally with the object decoded into ``model``."""

    @overload
    def __init__(self: MutatingWebhook[Obj], mutator: Mutator[Obj], model: None = None) -> None: ...
    @overload
    def __init__(self, mutator: Mutator[T], model: type[T]) -> None: ...
    def __init__(self, mutator: Mutator[Any], model: type[Any] | None = None) -> None:
        super().__init__(model)
        self._mutator = mutator

    async def _decide(self, admission: Admission[T]) -> AdmissionResponse:
        uid = admission.request.uid
        original = admission.request.object
        if admission.object is None or original is None:
            return AdmissionResponse(uid=uid, allowed=True)
        codec = self._codec
        work = admission.object
        result = await self._mutator(work, admission)
        mutated = codec.encode(work if result is None else result)
        if codec.model is not None:
            # Only what the handler changed in the model's view of the object.
            baseline = codec.encode(codec.decode(original))
            mutated = three_way_merge(original, baseline, mutated)
        ops = jsonpatch.diff(original, mutated)
        if not ops:
            return AdmissionResponse(uid=uid, allowed=True)
        patch = base64.b64encode(orjson.dumps(ops)).decode()
        return AdmissionResponse(uid=uid, allowed=True, patch=patch, patch_type="JSONPatch")
