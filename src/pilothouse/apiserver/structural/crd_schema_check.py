"""Is a CRD's ``openAPIV3Schema`` structural, and does it use only what CRDs support?

:func:`check_structural` reproduces, on the raw schema dict, the checks the real server
makes when a CRD is written, in the same order and with the same wording:

1. ``nullable`` is forbidden at the root;
2. ``schema.ValidateStructural`` (:mod:`.crd_structural`): types everywhere, a well-formed
   root, junctors with value validations only, all sorted by text as the server sorts them;
3. if the schema is structural, ``defaulting.ValidateDefaults`` (here): each ``default``
   must be pruned already (``must not have unknown fields``) and valid against its own
   schema, including its ``x-kubernetes-validations``;
4. the OpenAPI restrictions of ``ValidateCustomResourceDefinitionOpenAPISchema``
   (:mod:`.crd_openapi_check`): no ``$ref``, ``uniqueItems`` and friends, consistent
   list and map type extensions.

Fields are reported under ``path`` (``spec.versions[0].schema.openAPIV3Schema`` for a v1
CRD version), properties as ``properties[spec]``. The ``x-kubernetes-validations`` checks
(rule metadata, compilation, transition rules) live in :func:`.cel.compile_errors`; the CRD
validation step calls both. The status-subresource restriction on root fields and the
defaults inside metadata are not checked.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pilothouse.apiserver.errors import Cause
from pilothouse.apiserver.schemas import SchemaNode
from pilothouse.apiserver.structural import cel, pruning
from pilothouse.apiserver.structural.crd_openapi_check import openapi_errors
from pilothouse.apiserver.structural.crd_structural import structural_errors
from pilothouse.apiserver.structural.gorender import field_error
from pilothouse.apiserver.structural.jsonvalues import as_object, deep_equal
from pilothouse.apiserver.structural.validate import validate_at

__all__ = ["check_structural"]

_META = ("apiVersion", "kind", "metadata")


def check_structural(
    schema: Mapping[str, Any], path: str = "spec.validation.openAPIV3Schema"
) -> list[Cause]:
    """The errors the server reports for ``schema`` as a CRD's ``openAPIV3Schema``."""
    if not isinstance(schema, Mapping):
        return [field_error("FieldValueRequired", path)]
    out: list[Cause] = []
    if schema.get("nullable") is True:
        out.append(
            field_error(
                "FieldValueForbidden", f"{path}.nullable", "nullable cannot be true at the root"
            )
        )
    structural = structural_errors(schema, path)
    out += structural or _defaults(schema, path, inside_meta=False, resource=True)
    out += openapi_errors(schema, path)
    return out


# -- ValidateDefaults ----------------------------------------------------------------------


def _defaults(s: Mapping[str, Any], fld: str, inside_meta: bool, resource: bool) -> list[Cause]:
    """The ``default`` errors of ``s`` and below; defaults inside resource metadata are
    not checked (``inside_meta``), ``resource`` marks a root or embedded resource."""
    out: list[Cause] = []
    if "default" in s and s["default"] is not None and not inside_meta:
        node = SchemaNode(s)
        default = s["default"]
        pruned = copy.deepcopy(default)
        embedded = s.get("x-kubernetes-embedded-resource") is True
        pruning.prune(pruned, node, is_root=embedded)
        if not deep_equal(pruned, default):
            out.append(
                field_error(
                    "FieldValueInvalid", f"{fld}.default", "must not have unknown fields", default
                )
            )
        elif errs := validate_at(default, node, f"{fld}.default"):
            out += errs
        else:
            out += cel.validate_cel(default, default, node, f"{fld}.default")
    if isinstance(s.get("items"), Mapping):
        out += _defaults(s["items"], f"{fld}.items", inside_meta, False)
    embedded = resource or s.get("x-kubernetes-embedded-resource") is True
    for k, v in as_object(s.get("properties")).items():
        meta = inside_meta or (embedded and k in _META)
        out += _defaults(as_object(v), f"{fld}.properties[{k}]", meta, False)
    return out
