"""What the server serves: :class:`ResourceType`, one per (group, version, resource).

A resource type is the unit every other part keys on: the router maps URLs to it, storage
keys objects by its ``group/resource``, discovery and OpenAPI describe it, tables print it.
Built-in types come from :mod:`pilothouse.apiserver.catalog`; custom resources are added and
removed at run time by :mod:`pilothouse.apiserver.crds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Verbs of a resource that supports everything (discovery wording).
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ScalePaths:
    """Where a scalable resource keeps its replica counts (CRD ``subresources.scale``)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = ".status.selector"


@dataclass(frozen=True)
class ResourceType:
    """One served resource.

    ``subresources`` names the subresources (``status``, ``scale``, ``binding``,
    ``eviction``, ``finalize``, ...). For custom resources ``crd_version`` is the CRD's
    ``spec.versions[]`` entry being served (schema, printer columns, subresources) and
    ``storage_version`` the version objects are stored in.
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    scale: ScalePaths | None = None
    crd_version: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    storage_version: str | None = None
    #: The group resource whose storage this one shares (``events`` for events.k8s.io).
    storage: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``deployments.apps``, ``pods``: the name used in messages and storage keys."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def storage_key(self) -> str:
        """Where objects of this resource are stored (see :mod:`.conversion`)."""
        return self.storage or self.group_resource

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def is_custom(self) -> bool:
        return self.crd_version is not None

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def persisted(self) -> bool:
        """False for create-only virtual resources (reviews) that are never stored."""
        return "get" in self.verbs or "list" in self.verbs

    def supports(self, verb: str) -> bool:
        return verb in self.verbs
