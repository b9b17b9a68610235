"""Custom resources declared as pydantic models, and the CRDs generated from them.

What kubebuilder's markers and controller-gen, or kube-rs's ``#[derive(CustomResource)]``,
do for Go and Rust::

    from typing import Annotated
    from pydantic import Field
    from pilothouse import crd

    class WidgetSpec(crd.Model):
        replicas: Annotated[int, Field(ge=0)] = 1
        \"\"\"How many widgets to run.\"\"\"

    class WidgetStatus(crd.Model):
        replicas: int = 0

    class Widget(crd.CustomResource, group="example.com", version="v1", kind="Widget",
                 scale=crd.Scale(), printer_columns=(
                     crd.PrinterColumn("Replicas", "integer", ".spec.replicas"), crd.AGE)):
        \"\"\"A widget.\"\"\"
        spec: WidgetSpec
        status: WidgetStatus | None = None

    print(crd.render_yaml([Widget]))          # kubectl apply -f -
    w = Widget.from_object(obj_from_server)   # typed access; w.to_object() to write back

What is where:

* :mod:`.model` -- :class:`CustomResource` (one version of a kind: class keywords, the
  ``from_object``/``to_object`` round trip, ``kind_info()``) and :class:`Model` (a
  camelCase base for spec and status models);
* :mod:`.meta` -- :class:`ObjectMeta`, :class:`OwnerReference`, :class:`ManagedFieldsEntry`;
* :mod:`.options` -- what a resource declares besides its schema: :class:`ResourceOptions`,
  :class:`PrinterColumn` (and :data:`AGE`), :class:`Scale`, :class:`Webhook`,
  :class:`ServiceReference`;
* :mod:`.markers` -- Kubernetes schema extensions: :data:`IntOrString`,
  :data:`PreserveUnknownFields`, :data:`EmbeddedResource`, :func:`validations` (CEL),
  :func:`list_type`, :func:`map_type`, :data:`preserve_unknown_fields`,
  :data:`embedded_resource`, :class:`SchemaExtra`;
* :mod:`.schema` -- pydantic JSON schema → structural schema (:func:`openapi_schema`,
  :func:`structural_schema`), with :mod:`.keywords` (which keywords kube accepts, in
  which order);
* :mod:`.definition` -- :func:`definition`: one CRD from the classes of its versions;
* :mod:`.render` -- :func:`render_yaml`: all CRDs as one YAML stream;
* :mod:`.names` -- default plurals (:func:`plural_of`) and kube's name rules;
* :mod:`.errors` -- :class:`CRDError`, :class:`SchemaError`.

This package depends on :mod:`pilothouse.api` and pydantic/PyYAML only, never on the API
server, the client or the runtime.
"""

from __future__ import annotations

from .definition import definition
from .errors import CRDError, SchemaError
from .markers import (
    EmbeddedResource,
    IntOrString,
    PreserveUnknownFields,
    SchemaExtra,
    embedded_resource,
    list_type,
    map_type,
    preserve_unknown_fields,
    validations,
)
from .meta import ManagedFieldsEntry, ObjectMeta, OwnerReference
from .model import CustomResource, Model
from .names import plural_of
from .options import (
    AGE,
    PrinterColumn,
    ResourceOptions,
    Scale,
    ServiceReference,
    Webhook,
)
from .render import render_yaml
from .schema import openapi_schema, structural_schema

__all__ = [
    "AGE",
    "CRDError",
    "CustomResource",
    "EmbeddedResource",
    "IntOrString",
    "ManagedFieldsEntry",
    "Model",
    "ObjectMeta",
    "OwnerReference",
    "PreserveUnknownFields",
    "PrinterColumn",
    "ResourceOptions",
    "Scale",
    "SchemaError",
    "SchemaExtra",
    "ServiceReference",
    "Webhook",
    "definition",
    "embedded_resource",
    "list_type",
    "map_type",
    "openapi_schema",
    "plural_of",
    "preserve_unknown_fields",
    "render_yaml",
    "structural_schema",
    "validations",
]
