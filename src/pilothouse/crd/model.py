"""The classes users subclass: :class:`CustomResource` (one version of one kind) and
:class:`Model` (the parts of its spec and status).

A custom resource is declared in its class statement::

    class Widget(crd.CustomResource, group="example.com", version="v1", kind="Widget",
                 short_names=("wd",), printer_columns=(crd.PrinterColumn(...), crd.AGE)):
        \"\"\"A widget.\"\"\"
        spec: WidgetSpec
        status: WidgetStatus | None = None

Guarantees:

* The declaration is validated when the class statement runs (names, columns, paths), with
  the API server's rules.
* ``apiVersion`` and ``kind`` are filled in from the declaration; an object claiming
  another apiVersion or kind is rejected by :meth:`CustomResource.from_object`.
* :meth:`CustomResource.to_object` sends only what the user set or changed (plus
  ``apiVersion``/``kind``), by wire name, without the ``None`` of optional fields -- so a
  server-side apply of it claims exactly the fields the user meant to own, and the
  server's defaults (which are the model's defaults, see :mod:`pilothouse.crd.schema`) fill
  in the rest.
* Round trips: ``from_object(o.to_object()) == o`` for any object ``o``, and
  ``from_object(d).to_object() == d`` for any object dict ``d`` the server stores for the
  models' schema (unknown fields are dropped, except in ``metadata``; a null of an optional
  field, which the server prunes anyway, would be dropped too).

A subclass of a concrete resource inherits its declaration, so ``class WidgetV2(Widget,
version="v2")`` only changes the version. A subclass declaring nothing on top of
:class:`CustomResource` is abstract (a shared base): it cannot be instantiated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from pilothouse.api.kinds import Kind

from .errors import CRDError
from .meta import ObjectMeta
from .names import check_names, plural_of
from .options import PrinterColumn, ResourceOptions, Scale, Scope

__all__ = ["CustomResource", "Model"]

_CONFIG = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    use_attribute_docstrings=True,
)

_API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#resources"
)
_KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#types-kinds"
)


class Model(BaseModel):
    """A base for spec and status models in Kubernetes style.

    Fields are snake_case in Python and camelCase on the wire (``max_replicas`` ↔
    ``maxReplicas``), either accepted on input; a docstring under a field becomes its
    description in the CRD (what ``kubectl explain`` shows). Plain ``BaseModel`` works too,
    with its field names used verbatim.
    """

    model_config = _CONFIG


# The names of the class-statement keywords, in the order of ResourceOptions' fields.
_OPTION_NAMES = (
    "group", "version", "kind", "plural", "singular", "scope", "short_names", "categories",
    "printer_columns", "served", "storage", "deprecated", "deprecation_warning",
    "selectable_fields", "scale",
)  # fmt: skip
_TUPLES = ("short_names", "categories", "printer_columns", "selectable_fields")


class CustomResource(BaseModel):
    """One version of a custom resource kind: subclass it with the class keywords
    ``group``, ``version``, ``kind`` and, optionally, ``plural`` (default: derived from the
    kind, see :func:`pilothouse.crd.names.plural_of`), ``singular``, ``scope``
    (``"Namespaced"``/``"Cluster"``), ``short_names``, ``categories``, ``printer_columns``,
    ``served``, ``storage``, ``deprecated``, ``deprecation_warning``,
    ``selectable_fields`` and ``scale`` (:class:`~pilothouse.crd.Scale`).

    Declare ``spec`` (and ``status`` to get the status subresource) as fields.
    """

    model_config = _CONFIG

    # Empty defaults (replaced by _fill_type_meta) keep type checkers from asking for them.
    api_version: str = Field(default="", alias="apiVersion", description=_API_VERSION_DOC)
    kind: str = Field(default="", description=_KIND_DOC)
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    # The explicit class keywords of this class and its ancestors (a subclass overrides).
    __crd_declared__: ClassVar[dict[str, Any]] = {}
    __crd_options__: ClassVar[ResourceOptions | None] = None

    def __init_subclass__(
        cls,
        *,
        group: str | None = None,
        version: str | None = None,
        kind: str | None = None,
        plural: str | None = None,
        singular: str | None = None,
        scope: Scope | None = None,
        short_names: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        printer_columns: Sequence[PrinterColumn] | None = None,
        served: bool | None = None,
        storage: bool | None = None,
        deprecated: bool | None = None,
        deprecation_warning: str | None = None,
        selectable_fields: Sequence[str] | None = None,
        scale: Scale | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        given: dict[str, Any] = dict(zip(_OPTION_NAMES, (
            group, version, kind, plural, singular, scope, short_names, categories,
            printer_columns, served, storage, deprecated, deprecation_warning,
            selectable_fields, scale,
        ), strict=True))  # fmt: skip
        given = {k: v for k, v in given.items() if v is not None}
        for key in _TUPLES:
            if isinstance(given.get(key), str):
                given[key] = (given[key],)  # ("wd") is a common slip for ("wd",)
            if key in given:
                given[key] = tuple(given[key])
        declared = dict(cls.__crd_declared__)
        if "kind" in given and given["kind"] != declared.get("kind"):
            # The plural and singular follow the kind unless given again.
            declared.pop("plural", None)
            declared.pop("singular", None)
        declared.update(given)
        cls.__crd_declared__ = declared
        cls.__crd_options__ = _options(cls.__name__, declared) if declared else None

    @model_validator(mode="before")
    @classmethod
    def _fill_type_meta(cls, data: Any) -> Any:
        """Fill in ``apiVersion``/``kind``; reject values for another resource."""
        options = cls.crd_options()
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for wire, field, want in (
            ("apiVersion", "api_version", options.api_version),
            ("kind", "kind", options.kind),
        ):
            got = data.pop(wire, None)
            got = data.pop(field, None) if got is None else got
            if got not in (None, "", want):
                raise ValueError(f"{wire} must be {want!r} for {cls.__name__}, not {got!r}")
            data[wire] = want
        return data

    @classmethod
    def crd_options(cls) -> ResourceOptions:
        """The validated class-statement declaration; TypeError for an abstract base."""
        options = cls.__crd_options__
        if options is None:
            raise TypeError(
                f"{cls.__name__} declares no resource: subclass it with group=, version= "
                "and kind= class keywords"
            )
        return options

    @classmethod
    def kind_info(cls) -> Kind:
        """How clients address this resource (group, version, kind, plural, scope)."""
        o = cls.crd_options()
        return Kind(o.group, o.version, o.kind, o.plural, o.namespaced)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Self:
        """Parse an object dict as the server returns it (pydantic ValidationError if it
        does not fit the model or names another apiVersion/kind)."""
        return cls.model_validate(obj)

    def to_object(self) -> dict[str, Any]:
        """The object as a JSON-ready dict for the API server, by wire names, with
        ``apiVersion`` and ``kind`` and, at every depth, only the fields set (at
        construction, by assignment, or by the server) or changed in place -- and no
        ``None`` where None is the default (where it is not, null is sent: leaving it out
        would read back as the default)."""
        options = self.crd_options()
        # apiVersion and kind come first, from the declaration (model_construct skips them).
        exclude = (_unsent(self) or {}) | {"api_version": True, "kind": True}
        body = self.model_dump(mode="json", by_alias=True, exclude=exclude)
        return {"apiVersion": options.api_version, "kind": options.kind, **body}


def _options(name: str, declared: dict[str, Any]) -> ResourceOptions:
    missing = [k for k in ("group", "version", "kind") if k not in declared]
    if missing:
        raise CRDError(f"{name} must declare {', '.join(m + '=' for m in missing)}")
    values = dict(declared)
    values.setdefault("plural", plural_of(values["kind"]))
    values.setdefault("singular", values["kind"].lower())
    options = ResourceOptions(**values)
    check_names(
        group=options.group,
        version=options.version,
        kind=options.kind,
        plural=options.plural,
        singular=options.singular,
        short_names=options.short_names,
        categories=options.categories,
    )
    return options


def _unsent(value: Any) -> Any:
    """The pydantic ``exclude`` spec leaving out, at every depth, the fields that were
    neither set nor changed from their default; None when nothing is to be left out."""
    spec: dict[Any, Any] = {}
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            field_value = getattr(value, name, None)
            unset = name not in value.model_fields_set
            if (unset or field_value is None) and _is_default(field_value, info):
                spec[name] = True  # neither set nor changed, or None where None is implied
                continue
            if (sub := _unsent(field_value)) is not None:
                spec[name] = sub
    elif isinstance(value, list | tuple):
        spec = {i: sub for i, item in enumerate(value) if (sub := _unsent(item)) is not None}
    elif isinstance(value, dict):
        spec = {k: sub for k, item in value.items() if (sub := _unsent(item)) is not None}
    return spec or None


def _is_default(value: Any, info: FieldInfo) -> bool:
    if info.is_required():
        return False
    try:
        default = info.get_default(call_default_factory=True)
    except (TypeError, ValueError):  # a factory that needs the other fields' values
        return False
    return bool(value == default)
