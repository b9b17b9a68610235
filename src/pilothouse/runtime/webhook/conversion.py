"""CRD conversion webhooks: hub-and-spoke converters and the ``ConversionReview`` handler.

As in controller-runtime, one version of each kind is the *hub* and every other version (a
*spoke*) knows how to convert itself to the hub and back, so ``n`` versions need ``2(n-1)``
functions rather than ``n(n-1)``; spoke-to-spoke conversions go through the hub::

    registry = ConversionRegistry()
    widgets = registry.kind("example.com", "Widget", hub="v2")
    widgets.spoke("v1", to_hub=v1_to_v2, from_hub=v2_to_v1)
    server.register("/convert", ConversionWebhook(registry))

A converter takes the object as a ``dict`` (a private deep copy) and returns the converted
``dict``. It need not set ``apiVersion``, and it should not care about ``metadata``:

Guarantees, matching what kube-apiserver checks and restores on its side:

* every converted object has the desired ``apiVersion`` and the original ``kind``;
* ``metadata`` is the original's, except ``labels`` and ``annotations``, which are taken
  from the converter's result when it returns them (so a conversion may stash fields that
  the target version cannot express in an annotation, the usual lossless-roundtrip trick);
* objects already in the desired version are returned unchanged, without calling anything;
* any failure (an unknown kind or version, a converter raising) answers
  ``result.status: Failure`` with a message naming the object, and no objects -- the API
  server then fails the request with that message. A malformed review raises
  :class:`~.review.MalformedReview` (HTTP 400).

Converters are synchronous: conversion is a pure function of the object, run on every read
of a non-storage version, and must be fast; do not do I/O in one.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pilothouse.runtime.webhook.review import (
    CONVERSION_API_VERSION,
    ConversionResponse,
    ConversionReview,
    Obj,
    Status,
    dump,
    parse,
)

log = logging.getLogger(__name__)

Converter = Callable[[Obj], Obj]


class ConversionError(Exception):
    """A conversion that cannot be done; its message is sent back to the API server."""


def _split(api_version: str) -> tuple[str, str]:
    group, sep, version = api_version.rpartition("/")
    return (group, version) if sep else ("", api_version)


@dataclass
class KindConverters:
    """The converters of one kind: a hub version and spokes that convert to/from it."""

    group: str
    kind: str
    hub: str
    _spokes: dict[str, tuple[Converter, Converter]] = field(
        default_factory=dict, init=False, repr=False
    )

    def spoke(self, version: str, *, to_hub: Converter, from_hub: Converter) -> KindConverters:
        """Register ``version``: ``to_hub`` converts it to the hub, ``from_hub`` back."""
        if version == self.hub:
            raise ValueError(f"{version} is the hub of {self.group}/{self.kind}")
        if version in self._spokes:
            raise ValueError(f"{version} of {self.group}/{self.kind} is already registered")
        self._spokes[version] = (to_hub, from_hub)
        return self

    @property
    def versions(self) -> list[str]:
        return [self.hub, *self._spokes]

    def _check(self, version: str) -> None:
        if version != self.hub and version not in self._spokes:
            known = ", ".join(self.versions)
            raise ConversionError(
                f"{self.group}/{version}, Kind={self.kind} is not convertible "
                f"(known versions: {known})"
            )

    def convert(self, obj: Obj, version: str) -> Obj:
        """``obj`` (of any registered version) converted to ``version``."""
        _group, source = _split(str(obj.get("apiVersion", "")))
        self._check(source)
        self._check(version)
        if source == version:
            return obj
        current = copy.deepcopy(obj)
        if source != self.hub:
            current = self._step(self._spokes[source][0], current, self.hub)
        if version != self.hub:
            current = self._step(self._spokes[version][1], current, version)
        return _restore_metadata(obj, current)

    def _step(self, converter: Converter, obj: Obj, version: str) -> Obj:
        result = converter(obj)
        if not isinstance(result, dict):
            raise ConversionError(
                f"converter to {self.group}/{version} returned a {type(result).__name__}, "
                "not an object"
            )
        result["apiVersion"] = f"{self.group}/{version}" if self.group else version
        result["kind"] = self.kind
        return result


def _restore_metadata(original: Obj, converted: Obj) -> Obj:
    """The original's metadata, with labels and annotations from ``converted`` when set."""
    meta = copy.deepcopy(original.get("metadata") or {})
    returned = converted.get("metadata")
    if isinstance(returned, dict):
        for name in ("labels", "annotations"):
            if returned.get(name):
                meta[name] = returned[name]
            else:
                meta.pop(name, None)
    converted["metadata"] = meta
    return converted


class ConversionRegistry:
    """The hub-and-spoke converters of every kind one webhook converts."""

    def __init__(self) -> None:
        self._kinds: dict[tuple[str, str], KindConverters] = {}

    def kind(self, group: str, kind: str, *, hub: str) -> KindConverters:
        """Declare ``group``/``kind`` with ``hub`` as its hub version; add spokes to the
        returned object."""
        if (group, kind) in self._kinds:
            raise ValueError(f"{group}/{kind} is already registered")
        converters = self._kinds[(group, kind)] = KindConverters(group, kind, hub)
        return converters

    def converters(self, group: str, kind: str) -> KindConverters:
        try:
            return self._kinds[(group, kind)]
        except KeyError:
            raise ConversionError(f"no converters for kind {kind!r} in group {group!r}") from None

    def convert(self, obj: Obj, desired_api_version: str) -> Obj:
        """``obj`` converted to ``desired_api_version``; :class:`ConversionError` if it
        cannot be."""
        group, version = _split(desired_api_version)
        obj_group, _ = _split(str(obj.get("apiVersion", "")))
        if obj_group != group:
            raise ConversionError(
                f"cannot convert {obj.get('apiVersion')!r} to {desired_api_version!r}: "
                "different groups"
            )
        return self.converters(group, str(obj.get("kind", ""))).convert(obj, version)


def _describe(obj: Any) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    name = str(meta.get("name", ""))
    if meta.get("namespace"):
        name = f"{meta['namespace']}/{name}"
    kind = obj.get("kind", "object") if isinstance(obj, dict) else "object"
    return f"{kind} {name!r}" if name else str(kind)


class ConversionWebhook:
    """Answers ``ConversionReview``\\ s with a :class:`ConversionRegistry`."""

    def __init__(self, registry: ConversionRegistry) -> None:
        self.registry = registry

    async def serve(self, document: Any) -> Obj:
        """Answer one decoded review document; raises :class:`MalformedReview`."""
        review = parse(document, ConversionReview, CONVERSION_API_VERSION, "ConversionReview")
        request = review.request
        assert request is not None
        desired = request.desired_api_version
        converted: list[Obj] = []
        for obj in request.objects:
            try:
                converted.append(self.registry.convert(obj, desired))
            except Exception as e:
                if not isinstance(e, ConversionError):
                    log.exception("converter failed for %s", _describe(obj))
                detail = str(e) if isinstance(e, ConversionError) else f"{type(e).__name__}: {e}"
                message = f"converting {_describe(obj)} to {desired}: {detail}"
                failure = Status(status="Failure", message=message)
                response = ConversionResponse(uid=request.uid, result=failure)
                return dump(ConversionReview(response=response))
        response = ConversionResponse(
            uid=request.uid, converted_objects=converted, result=Status(status="Success")
        )
        return dump(ConversionReview(response=response))
