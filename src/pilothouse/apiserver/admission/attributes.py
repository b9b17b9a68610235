"""What admission decides on: the request's :class:`Attributes` (``admission.Attributes``
upstream) and a configured webhook as dispatch sees it (:class:`Hook`).

Design choice: a :class:`Hook` keeps the webhook's raw spec (the stored JSON) and a uid
unique across configurations (``<configuration>/<webhook>/<index>``), which reinvocation
bookkeeping needs because webhook names may repeat between configurations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pilothouse.apiserver.resources import ResourceType


@dataclass
class Attributes:
    """One request as admission sees it (the fields of ``admission.Attributes``)."""

    operation: str
    resource: ResourceType
    subresource: str
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old_obj: dict[str, Any] | None
    dry_run: bool = False
    options: dict[str, Any] | None = None
    user_info: dict[str, Any] = field(default_factory=dict)
    # Labels of the object's namespace; None for cluster-scoped objects. For Namespace
    # objects the object's own labels (old object's on DELETE) are used when None.
    namespace_labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Hook:
    uid: str
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def ignore_failures(self) -> bool:
        return self.spec.get("failurePolicy") == "Ignore"
