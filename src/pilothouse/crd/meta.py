"""``metadata`` as pydantic models: :class:`ObjectMeta`, :class:`OwnerReference`,
:class:`ManagedFieldsEntry`.

Guarantees:

* Python names are snake_case, the wire names Kubernetes' camelCase (``generate_name`` ↔
  ``generateName``); either is accepted on input.
* Nothing the server sends is lost: every model keeps unknown keys (``extra="allow"``), so a
  field added by a newer Kubernetes survives a read-modify-write.
* Every field is optional, because which ones are present depends on who wrote the object
  (a client omits ``uid``; the server fills it in).

Timestamps are timezone-aware :class:`~datetime.datetime` values and serialize back to
kube's RFC 3339 form (``2024-05-01T12:00:00Z``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ManagedFieldsEntry", "ObjectMeta", "OwnerReference"]

_CONFIG = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    extra="allow",
    use_attribute_docstrings=True,
)


class OwnerReference(BaseModel):
    """Names an object this one belongs to, for garbage collection and ownership."""

    model_config = _CONFIG

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    """True if the owner is the managing controller; at most one reference may say so."""
    block_owner_deletion: bool | None = None
    """With foreground deletion, the owner is not deleted before this object is."""


class ManagedFieldsEntry(BaseModel):
    """Which fields one manager owns (server-side apply bookkeeping)."""

    model_config = _CONFIG

    manager: str | None = None
    operation: str | None = None
    api_version: str | None = None
    time: datetime | None = None
    fields_type: str | None = None
    fields_v1: dict[str, Any] | None = None
    subresource: str | None = None


class ObjectMeta(BaseModel):
    """Standard object metadata (``metav1.ObjectMeta``)."""

    model_config = _CONFIG

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None
    managed_fields: list[ManagedFieldsEntry] | None = None
    self_link: str | None = None
