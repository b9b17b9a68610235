"""Validation of CustomResourceDefinitions, apart from their schemas.

``metadata.name`` must be ``<spec.names.plural>.<spec.group>``; the group a DNS subdomain
with at least one dot; the scope ``Cluster`` or ``Namespaced``; version names DNS-1035
labels, unique, with exactly one storage version; names required and DNS-1035-shaped
(kinds may be mixed case), with ``kind`` and ``listKind`` distinct; conversion strategy
``None`` or ``Webhook`` (with a client config and review versions). On update the group
and plural are immutable, and scope and kind too once the CRD is ``Established``.
``status.storedVersions`` must name only versions that still exist.

The structural-schema checks of ``spec.versions[*].schema`` are done elsewhere
(:mod:`pilothouse.apiserver.structural`). Unlike some client-side linters, a CRD whose
versions are all ``served: false`` is valid: kube-apiserver accepts it and just serves
nothing.
"""

from __future__ import annotations

from pilothouse.api import validation as api_validation
from pilothouse.apiserver.builtin._util import (
    GoValue,
    Obj,
    as_dict,
    child,
    dicts,
    forbidden,
    get_list,
    get_str,
    go_string_slice,
    immutable,
    index,
    invalid,
    not_supported,
    required,
)
from pilothouse.apiserver.builtin.validation_admission import validate_client_config
from pilothouse.apiserver.errors import Cause

SCOPES = ("Cluster", "Namespaced")
PRINTER_COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")
PRINTER_COLUMN_FORMATS = (
    "byte", "date", "date-time", "double", "float", "int32", "int64", "password",
)  # fmt: skip


def _versions_value(versions: list[Obj]) -> GoValue:
    """An abbreviated ``%#v`` of ``[]apiextensions.CustomResourceDefinitionVersion``."""
    items = ", ".join(
        "apiextensions.CustomResourceDefinitionVersion{"
        f"Name:{api_validation.go_quote(get_str(v, 'name'))}, "
        f"Served:{str(v.get('served') is True).lower()}, "
        f"Storage:{str(v.get('storage') is True).lower()}, ...}}"
        for v in versions
    )
    return GoValue("[]apiextensions.CustomResourceDefinitionVersion{" + items + "}")


def validate_customresourcedefinitions(obj: Obj, old: Obj | None) -> list[Cause]:
    spec = as_dict(obj.get("spec")) or {}
    meta = as_dict(obj.get("metadata")) or {}
    names = as_dict(spec.get("names")) or {}
    errs: list[Cause] = []
    name = get_str(meta, "name")
    if old is None and name != f"{get_str(names, 'plural')}.{get_str(spec, 'group')}":
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    errs += _validate_spec(spec, creating=old is None)
    if old is not None:
        errs += _validate_update(spec, old)
    errs += _validate_stored_versions(obj, spec)
    return errs


def _validate_spec(spec: Obj, *, creating: bool) -> list[Cause]:
    errs: list[Cause] = []
    group = get_str(spec, "group")
    if not group:
        errs.append(required("spec.group"))
    elif api_validation.is_dns1123_subdomain(group):
        errs.append(
            invalid("spec.group", group, ",".join(api_validation.is_dns1123_subdomain(group)))
        )
    elif len(group.split(".")) < 2:
        errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope")
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in SCOPES:
        errs.append(not_supported("spec.scope", scope, SCOPES))
    versions = [v for _, v in dicts(spec.get("versions"))]
    for i, version in enumerate(versions):
        version_name = get_str(version, "name")
        msgs = api_validation.is_dns1035_label(version_name)
        if msgs:
            errs.append(
                invalid(child(index("spec.versions", i), "name"), version_name, ",".join(msgs))
            )
        for j, column in dicts(version.get("additionalPrinterColumns")):
            errs += _validate_column(
                column, index(child(index("spec.versions", i), "additionalPrinterColumns"), j)
            )
    version_names = [get_str(v, "name") for v in versions]
    if len(set(version_names)) != len(version_names):
        errs.append(
            invalid("spec.versions", _versions_value(versions), "must contain unique version names")
        )
    if sum(v.get("storage") is True for v in versions) != 1:
        detail = "must have exactly one version marked as storage version"
        errs.append(invalid("spec.versions", _versions_value(versions), detail))
    names = as_dict(spec.get("names")) or {}
    for field in ("plural", "singular", "kind", "listKind"):
        if not get_str(names, field):
            errs.append(required(child("spec.names", field)))
    errs += _validate_names(names, "spec.names")
    errs += _validate_conversion(spec)
    if creating and spec.get("preserveUnknownFields") is True:
        detail = (
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true "
            "in spec.versions[*].schema instead"
        )
        errs.append(invalid("spec.preserveUnknownFields", True, detail))
    return errs


def _validate_names(names: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    for field in ("plural", "singular"):
        value = get_str(names, field)
        msgs = api_validation.is_dns1035_label(value)
        if value and msgs:
            errs.append(invalid(child(path, field), value, ",".join(msgs)))
    for field in ("kind", "listKind"):
        value = get_str(names, field)
        msgs = api_validation.is_dns1035_label(value.lower())
        if value and msgs:
            detail = "may have mixed case, but should otherwise match: " + ",".join(msgs)
            errs.append(invalid(child(path, field), value, detail))
    for field in ("shortNames", "categories"):
        for i, value in enumerate(str(v) for v in get_list(names, field)):
            msgs = api_validation.is_dns1035_label(value)
            if msgs:
                errs.append(invalid(index(child(path, field), i), value, ",".join(msgs)))
    kind = get_str(names, "kind")
    if kind and kind == get_str(names, "listKind"):
        errs.append(invalid(child(path, "listKind"), kind, "kind and listKind may not be the same"))
    return errs


def _validate_column(column: Obj, path: str) -> list[Cause]:
    errs: list[Cause] = []
    if not get_str(column, "name"):
        errs.append(required(child(path, "name")))
    column_type = get_str(column, "type")
    detail = "must be one of " + ",".join(PRINTER_COLUMN_TYPES)
    if not column_type:
        errs.append(required(child(path, "type"), detail))
    elif column_type not in PRINTER_COLUMN_TYPES:
        errs.append(invalid(child(path, "type"), column_type, detail))
    column_format = get_str(column, "format")
    if column_format and column_format not in PRINTER_COLUMN_FORMATS:
        detail = "must be one of " + ",".join(PRINTER_COLUMN_FORMATS)
        errs.append(invalid(child(path, "format"), column_format, detail))
    if not get_str(column, "jsonPath"):
        # Upstream names the internal field here.
        errs.append(required(child(path, "JSONPath")))
    return errs


def _validate_conversion(spec: Obj) -> list[Cause]:
    conversion = as_dict(spec.get("conversion"))
    if conversion is None:
        return []
    errs: list[Cause] = []
    strategy = conversion.get("strategy")
    webhook = as_dict(conversion.get("webhook"))
    if strategy not in ("None", "Webhook"):
        errs.append(not_supported("spec.conversion.strategy", strategy or "", ("None", "Webhook")))
    if strategy == "Webhook":
        if webhook is None:
            errs.append(
                required("spec.conversion.webhook", "required when strategy is set to Webhook")
            )
        else:
            config = as_dict(webhook.get("clientConfig"))
            if config is None:
                detail = "required when strategy is set to Webhook"
                errs.append(required("spec.conversion.webhook.clientConfig", detail))
            else:
                errs += validate_client_config(config, "spec.conversion.webhook.clientConfig")
            versions = get_list(webhook, "conversionReviewVersions")
            path = "spec.conversion.webhook.conversionReviewVersions"
            if not versions:
                errs.append(required(path, "must specify one of v1, v1beta1"))
            elif not set(map(str, versions)) & {"v1", "v1beta1"}:
                value = go_string_slice([str(v) for v in versions])
                errs.append(invalid(path, value, "must include at least one of v1, v1beta1"))
    elif webhook is not None:
        detail = "should not be set when strategy is not set to Webhook"
        errs.append(forbidden("spec.conversion.webhook", detail))
    return errs


def _validate_update(spec: Obj, old: Obj) -> list[Cause]:
    old_spec = as_dict(old.get("spec")) or {}
    names = as_dict(spec.get("names")) or {}
    old_names = as_dict(old_spec.get("names")) or {}
    errs: list[Cause] = []
    established = any(
        c.get("type") == "Established" and c.get("status") == "True"
        for _, c in dicts((as_dict(old.get("status")) or {}).get("conditions"))
    )
    if established:
        if spec.get("scope") != old_spec.get("scope"):
            errs.append(immutable("spec.scope", get_str(spec, "scope")))
        if names.get("kind") != old_names.get("kind"):
            errs.append(immutable("spec.names.kind", get_str(names, "kind")))
    if spec.get("group") != old_spec.get("group"):
        errs.append(immutable("spec.group", get_str(spec, "group")))
    if names.get("plural") != old_names.get("plural"):
        errs.append(immutable("spec.names.plural", get_str(names, "plural")))
    return errs


def _validate_stored_versions(obj: Obj, spec: Obj) -> list[Cause]:
    status = as_dict(obj.get("status")) or {}
    stored = [str(v) for v in get_list(status, "storedVersions")]
    path = "status.storedVersions"
    if not stored:
        return [invalid(path, go_string_slice(stored), "must have at least one stored version")]
    version_names = {get_str(v, "name") for _, v in dicts(spec.get("versions"))}
    return [
        invalid(index(path, i), version, "must appear in spec.versions")
        for i, version in enumerate(stored)
        if version not in version_names
    ]
