"""What a custom resource declares besides its schema: :class:`ResourceOptions` and the
value types it is built from (:class:`PrinterColumn`, :class:`Scale`, :class:`Webhook`).

All are frozen dataclasses that validate on construction, with the API server's rules, so a
bad column type or a scale path outside ``.spec`` fails at import time. Checks that need the
schema (does ``.spec.replicas`` exist, is it an integer?) happen when the CRD is generated
(:mod:`pilothouse.crd.definition`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

from pilothouse.api import jsonpath

from .errors import CRDError

__all__ = [
    "AGE",
    "ColumnType",
    "PrinterColumn",
    "ResourceOptions",
    "Scale",
    "Scope",
    "ServiceReference",
    "Webhook",
]

Scope = Literal["Namespaced", "Cluster"]
ColumnType = Literal["integer", "number", "string", "boolean", "date"]

_COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")
_COLUMN_FORMATS = ("int32", "int64", "float", "double", "byte", "date", "date-time", "password")


def _check_path(what: str, path: str, prefixes: tuple[str, ...] = (".",)) -> None:
    if not path.startswith(prefixes):
        raise CRDError(f"{what} {path!r} must start with {' or '.join(map(repr, prefixes))}")
    try:
        jsonpath.parse(path)
    except jsonpath.JsonPathError as exc:
        raise CRDError(f"{what} {path!r} is not a valid JSONPath: {exc}") from None


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """A column of ``kubectl get`` (``+kubebuilder:printcolumn``).

    ``priority`` 0 shows in the default view, higher only with ``-o wide``. Declaring any
    column replaces kubectl's default ``Age`` column: add :data:`AGE` to keep it.
    """

    name: str
    type: ColumnType
    json_path: str
    description: str | None = None
    priority: int = 0
    format: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise CRDError("a printer column needs a name")
        if self.type not in _COLUMN_TYPES:
            raise CRDError(
                f"printer column {self.name!r}: type {self.type!r} must be one of "
                + ", ".join(_COLUMN_TYPES)
            )
        if self.format is not None and self.format not in _COLUMN_FORMATS:
            raise CRDError(
                f"printer column {self.name!r}: format {self.format!r} must be one of "
                + ", ".join(_COLUMN_FORMATS)
            )
        if self.priority < 0:
            raise CRDError(f"printer column {self.name!r}: priority must not be negative")
        _check_path(f"printer column {self.name!r}: json_path", self.json_path)

    def to_dict(self) -> dict[str, Any]:
        """The ``additionalPrinterColumns`` entry."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.format:
            out["format"] = self.format
        if self.priority:
            out["priority"] = self.priority
        return out


#: The standard ``Age`` column, as kubebuilder projects add it.
AGE = PrinterColumn("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True, slots=True)
class Scale:
    """The ``scale`` subresource, which ``kubectl scale`` and HorizontalPodAutoscalers use.

    ``label_selector_path`` must point at a string holding a label selector in its string
    form (``app=web``), which an HPA needs to find the pods.
    """

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None

    def __post_init__(self) -> None:
        _check_path("scale spec_replicas_path", self.spec_replicas_path, (".spec.",))
        _check_path("scale status_replicas_path", self.status_replicas_path, (".status.",))
        if self.label_selector_path is not None:
            _check_path(
                "scale label_selector_path", self.label_selector_path, (".spec.", ".status.")
            )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "specReplicasPath": self.spec_replicas_path,
            "statusReplicasPath": self.status_replicas_path,
        }
        if self.label_selector_path:
            out["labelSelectorPath"] = self.label_selector_path
        return out


@dataclass(frozen=True, slots=True)
class ServiceReference:
    """An in-cluster Service serving a webhook over HTTPS."""

    name: str
    namespace: str
    path: str | None = None
    port: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.path:
            out["path"] = self.path
        if self.port is not None:
            out["port"] = self.port
        return out


@dataclass(frozen=True, slots=True)
class Webhook:
    """Conversion between versions by a webhook (``spec.conversion.strategy: Webhook``).

    Give exactly one of ``service`` and ``url`` (``https://`` only). ``ca_bundle`` is the
    PEM of the CA that signed the webhook's certificate; it is base64-encoded here.
    """

    service: ServiceReference | None = None
    url: str | None = None
    ca_bundle: bytes | None = None
    review_versions: tuple[str, ...] = ("v1",)

    def __post_init__(self) -> None:
        if (self.service is None) == (self.url is None):
            raise CRDError("a conversion Webhook needs exactly one of service= and url=")
        if self.url is not None and not self.url.startswith("https://"):
            raise CRDError(f"conversion webhook url {self.url!r} must use https://")
        if not set(self.review_versions) & {"v1", "v1beta1"}:
            raise CRDError("conversion review_versions must include v1 or v1beta1")

    def to_dict(self) -> dict[str, Any]:
        """The CRD's ``spec.conversion``."""
        client: dict[str, Any] = (
            {"service": self.service.to_dict()} if self.service else {"url": self.url}
        )
        if self.ca_bundle:
            client["caBundle"] = base64.b64encode(self.ca_bundle).decode()
        return {
            "strategy": "Webhook",
            "webhook": {
                "clientConfig": client,
                "conversionReviewVersions": list(self.review_versions),
            },
        }


@dataclass(frozen=True, slots=True)
class ResourceOptions:
    """Everything a :class:`~pilothouse.crd.CustomResource` subclass declared in its class
    statement, defaults filled in and validated. One per version class."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    scope: Scope = "Namespaced"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    served: bool = True
    storage: bool = True
    deprecated: bool = False
    deprecation_warning: str | None = None
    selectable_fields: tuple[str, ...] = ()
    scale: Scale | None = None

    def __post_init__(self) -> None:
        if self.scope not in ("Namespaced", "Cluster"):
            raise CRDError(f"scope {self.scope!r} must be 'Namespaced' or 'Cluster'")
        if self.deprecation_warning is not None and not self.deprecated:
            raise CRDError("deprecation_warning needs deprecated=True")
        names = [c.name for c in self.printer_columns]
        if len(set(names)) != len(names):
            raise CRDError(f"printer column names must be unique: {names}")
        if len(self.selectable_fields) > 8:
            raise CRDError("at most 8 selectable_fields are allowed")
        for path in self.selectable_fields:
            _check_path("selectable field", path)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        """The CRD's ``metadata.name``: ``<plural>.<group>``."""
        return f"{self.plural}.{self.group}"

    @property
    def namespaced(self) -> bool:
        return self.scope == "Namespaced"
