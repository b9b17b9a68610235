"""Typed access: which :class:`~pilothouse.api.kinds.Kind` a Python type stands for, and how
objects of that type turn into the JSON the API server speaks and back.

Three kinds of targets are accepted wherever the client takes a kind:

* a :class:`~pilothouse.api.kinds.Kind` — objects are plain ``dict``\\ s (the escape hatch,
  and what the informer cache stores);
* a lightkube resource class (``lightkube.resources.apps_v1.Deployment``) — typed access to
  every built-in kind, from the maintained ``lightkube-models`` package;
* a model class with ``kind_info()``/``from_object()`` and instances with ``to_object()`` —
  Pilothouse's pydantic custom resources (``pilothouse.crd``), matched structurally so the
  client does not depend on how they are declared.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from pilothouse.api import kinds

T = TypeVar("T")


@runtime_checkable
class ObjectModel(Protocol):
    """What a typed custom-resource model provides (see ``pilothouse.crd``)."""

    @classmethod
    def kind_info(cls) -> kinds.Kind: ...

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Any: ...

    def to_object(self) -> dict[str, Any]: ...


def kind_of_type(target: Any) -> kinds.Kind | None:
    """The Kind a class stands for, or None if it is not a typed class."""
    if isinstance(target, kinds.Kind):
        return target
    info = getattr(target, "kind_info", None)
    if isinstance(target, type) and callable(info):
        result = info()
        if isinstance(result, kinds.Kind):
            return result
    api_info = getattr(target, "_api_info", None)
    if isinstance(target, type) and api_info is not None:
        res = api_info.resource
        namespaced = any(c.__name__.startswith("NamespacedResource") for c in target.__mro__)
        return kinds.Kind(res.group, res.version, res.kind, api_info.plural, namespaced)
    return None


class NotAKind(TypeError):
    """What was given as a kind is neither a Kind nor a typed class."""


def require_kind(target: Any) -> kinds.Kind:
    """:func:`kind_of_type`, or :class:`NotAKind` when ``target`` names no kind."""
    found = kind_of_type(target)
    if found is None:
        raise NotAKind(f"{target!r} names no Kubernetes kind")
    return found


def decode(target: Any, obj: dict[str, Any]) -> Any:
    """Turn a JSON object into an instance of ``target`` (unchanged for a Kind)."""
    if isinstance(target, kinds.Kind) or not isinstance(target, type):
        return obj
    if hasattr(target, "from_object"):
        return target.from_object(obj)
    if hasattr(target, "from_dict"):
        return target.from_dict(obj)
    return obj


def encode(obj: Any) -> dict[str, Any]:
    """The JSON form of a dict, a pydantic custom resource, or a lightkube object."""
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, Mapping):
        return dict(obj)
    to_object = getattr(obj, "to_object", None)
    if callable(to_object):
        result = to_object()
        if isinstance(result, dict):
            return result
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        result = to_dict()
        if isinstance(result, dict):
            return result
    raise TypeError(
        f"expected an object dict, a model with to_object() or a lightkube object, "
        f"got {type(obj).__name__}"
    )


def type_of_instance(obj: Any) -> Any:
    """The decode target that gives back objects of the same type as ``obj``."""
    return None if isinstance(obj, dict) else type(obj)
