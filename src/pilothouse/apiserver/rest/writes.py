"""The create/update pipeline shared by POST, PUT, PATCH and server-side apply.

Stages, in kube-apiserver's order:

1. identity checks (apiVersion/kind/namespace/name against the URL) and server-owned
   metadata (:mod:`.objectmeta`);
2. decoding semantics: unknown fields pruned (reported per ``fieldValidation``: Strict fails,
   Warn adds a ``Warning`` header, Ignore is silent), type errors in built-in kinds refused
   with 400, defaults applied;
3. mutating admission webhooks;
4. validation: metadata, the kind's own rules, the CRD's structural schema and CEL rules
   (422 ``Invalid`` naming every failing field);
5. validating admission webhooks;
6. ``managedFields`` bookkeeping, then the compare-and-swap write.

Nothing is stored until every stage has passed, so a rejected request never leaves a partial
write. An update that changes nothing is not written at all (no new resourceVersion, no watch
event), which is what lets controllers issue idempotent writes cheaply.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson

from pilothouse.apiserver import admission, builtin, conversion, errors, resources, schemas, state
from pilothouse.apiserver.apply import managed
from pilothouse.apiserver.rest import context, kindhooks, objectmeta
from pilothouse.apiserver.store import records
from pilothouse.apiserver.store import store as store_mod
from pilothouse.apiserver.structural import cel, crd_schema_check, defaulting, pruning
from pilothouse.apiserver.structural import validate as structural

_VOLATILE_META = ("resourceVersion", "managedFields")
_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class WriteConflict(errors.ApiError):
    """The object changed between read and write (compare-and-swap lost); safe to retry
    when the client gave no resourceVersion precondition."""


@functools.lru_cache(maxsize=512)
def _schema(rt: resources.ResourceType) -> schemas.SchemaNode | None:
    if rt.crd_version is not None:
        raw = (rt.crd_version.get("schema") or {}).get("openAPIV3Schema")
        return schemas.crd_schema(raw) if raw else None
    return schemas.builtin_schema(rt.api_version, rt.kind)


def schema_for(rt: resources.ResourceType) -> schemas.SchemaNode | None:
    """The type schema objects of ``rt`` are checked against (None: untyped)."""
    return _schema(rt)


def _decode_semantics(
    ctx: context.RequestContext, obj: dict[str, Any], *, report_unknown: bool = True
) -> None:
    rt = ctx.rt
    schema = schema_for(rt)
    if schema is None:
        return
    if not rt.is_custom:
        type_errors = structural.validate_builtin_types(obj, schema)
        if type_errors:
            raise errors.bad_request(type_errors[0].message)
    unknown = pruning.prune(obj, schema)
    if unknown and report_unknown:
        mode = ctx.options.field_validation
        if mode == "Strict":
            msgs = [f'unknown field "{p.lstrip(".")}"' for p in unknown]
            raise errors.bad_request(
                f'.{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                + (msgs[0] if len(msgs) == 1 else "strict decoding error: " + ", ".join(msgs))
            )
        if mode == "Warn":
            ctx.warnings.extend(f'unknown field "{p.lstrip(".")}"' for p in unknown)
    if rt.is_custom:
        defaulting.apply_defaults(obj, schema)
    else:
        if conversion.needed(rt):
            # Defaults are defined on the stored representation, as kube's are on its
            # internal one. Built-in kinds convert without I/O, so the synchronous forms
            # serve here (this also runs in admission's synchronous re-decoding callback).
            stored = conversion.into(rt, obj)
            builtin.default(rt.storage_key, stored)
            obj.clear()
            obj.update(conversion.out(rt, stored))
        else:
            builtin.default(rt.group_resource, obj)


def _validate(ctx: context.RequestContext, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    rt = ctx.rt
    causes = objectmeta.validate(rt, obj)
    if old is not None:
        causes += objectmeta.check_finalizers(obj, old)
    schema = schema_for(rt)
    if rt.is_custom:
        if schema is not None:
            schema_causes = structural.validate(obj, schema)
            blocked = cel.blocking_error(schema_causes)
            causes += schema_causes
            # Like kube: rules are not evaluated on an object whose shape is already wrong.
            causes += [blocked] if blocked else cel.validate_cel(obj, old, schema)
    else:
        if conversion.needed(rt):  # built-in kinds: conversions without I/O
            causes += builtin.validate(
                rt.storage_key,
                conversion.into(rt, obj),
                conversion.into(rt, old) if old is not None else None,
            )
        else:
            causes += builtin.validate(rt.group_resource, obj, old)
        if rt.group_resource == CRD_RESOURCE:
            causes += _crd_schema_causes(obj)
    if causes:
        name = obj["metadata"].get("name") or obj["metadata"].get("generateName") or ""
        raise errors.invalid(rt.kind, name, rt.group, causes)


CRD_RESOURCE = "customresourcedefinitions.apiextensions.k8s.io"


def _crd_schema_causes(crd: dict[str, Any]) -> list[errors.Cause]:
    """Every version's schema must be structural and its CEL rules must compile."""
    causes: list[errors.Cause] = []
    for i, version in enumerate((crd.get("spec") or {}).get("versions") or []):
        raw = ((version or {}).get("schema") or {}).get("openAPIV3Schema")
        path = f"spec.versions[{i}].schema.openAPIV3Schema"
        if raw is None:
            causes.append(
                errors.Cause("FieldValueRequired", "Required value: schemas are required", path)
            )
            continue
        causes += crd_schema_check.check_structural(raw, path)
        causes += cel.compile_errors(raw, path)
    return causes


def _attrs(
    ctx: context.RequestContext,
    operation: str,
    obj: dict[str, Any] | None,
    old: dict[str, Any] | None,
    st: state.ServerState,
) -> admission.Attributes:
    ns_labels = None
    if ctx.rt.namespaced and ctx.namespace:
        ns_rec = st.store.get("namespaces", "", ctx.namespace)
        ns_labels = dict(ns_rec.labels) if ns_rec else {}
    elif ctx.rt.group_resource == "namespaces" and obj is not None:
        ns_labels = dict(obj["metadata"].get("labels") or {})
    kind = "CreateOptions" if operation == "CREATE" else "UpdateOptions"
    opts: dict[str, Any] = {"kind": kind, "apiVersion": "meta.k8s.io/v1"}
    if ctx.options.field_manager:
        opts["fieldManager"] = ctx.options.field_manager
    if ctx.options.dry_run:
        opts["dryRun"] = ["All"]
    return admission.Attributes(
        operation=operation,
        resource=ctx.rt,
        subresource=ctx.subresource,
        namespace=ctx.namespace,
        name=(obj or old or {}).get("metadata", {}).get("name", ctx.name),
        obj=obj,
        old_obj=old,
        dry_run=ctx.options.dry_run,
        options=opts,
        user_info=dict(ctx.user_info),
        namespace_labels=ns_labels,
    )


def has_webhooks(st: state.ServerState, which: str) -> bool:
    # Building the admission attributes costs more than the rest of a small write; skip it
    # when no webhook is configured at all.
    return st.store.count(f"{which}webhookconfigurations.admissionregistration.k8s.io") > 0


async def _admit(
    st: state.ServerState,
    ctx: context.RequestContext,
    operation: str,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
) -> dict[str, Any]:
    if st.admission is None or not has_webhooks(st, "mutating"):
        return obj
    mutated, warnings = await st.admission.mutate(
        _attrs(ctx, operation, obj, old, st),
        # kube decodes each patched object again: what a webhook adds is pruned and defaulted
        # like what the client sent (unknown fields from a webhook are dropped silently).
        lambda patched: _decode_semantics(ctx, patched, report_unknown=False),
    )
    ctx.warnings.extend(warnings)
    if mutated is not None and mutated is not obj:
        # Webhooks may not move the object: keep identity fields from before.
        meta = mutated.setdefault("metadata", {})
        for key in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion"):
            if key in obj["metadata"]:
                meta[key] = obj["metadata"][key]
        mutated["apiVersion"], mutated["kind"] = obj["apiVersion"], obj["kind"]
        obj = mutated
    return obj


async def _admit_validate(
    st: state.ServerState,
    ctx: context.RequestContext,
    operation: str,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
) -> None:
    if st.admission is not None and has_webhooks(st, "validating"):
        ctx.warnings.extend(await st.admission.validate(_attrs(ctx, operation, obj, old, st)))


def _record_managed_fields(
    st: state.ServerState,
    ctx: context.RequestContext,
    old: dict[str, Any] | None,
    obj: dict[str, Any],
) -> None:
    rt = ctx.rt
    obj["metadata"]["managedFields"] = managed.record_update(
        old,
        obj,
        manager_name(ctx),
        rt.api_version,
        st.now(),
        ctx.subresource,
        schema=schema_for(rt),
        reset_fields=managed.reset_fields_for(ctx.subresource, rt.has_status),
    )


def manager_name(ctx: context.RequestContext) -> str:
    return ctx.options.field_manager or managed.default_manager(ctx.user_agent)


def check_namespace(st: state.ServerState, rt: resources.ResourceType, namespace: str) -> None:
    """Namespaced objects need a namespace that exists and is not terminating."""
    if not rt.namespaced:
        return
    if not namespace:
        raise errors.bad_request("the namespace of the object is required")
    ns = st.store.get("namespaces", "", namespace)
    if ns is None:
        raise errors.not_found("namespaces", namespace)
    # Decoding the namespace costs as much as a small write's own checks: only do it when
    # its stored JSON can hold a deletionTimestamp at all.
    if b'"deletionTimestamp"' in ns.raw and ns.obj()["metadata"].get("deletionTimestamp"):
        raise errors.ApiError(
            403,
            "Forbidden",
            f'{rt.group_resource} "{{name}}" is forbidden: unable to create new content in '
            f"namespace {namespace} because it is being terminated",
            {
                "name": "",
                "group": rt.group,
                "kind": rt.plural,
                "causes": [
                    {
                        "reason": "NamespaceTerminating",
                        "message": f"namespace {namespace} is being terminated",
                        "field": "metadata.namespace",
                    }
                ],
            },
        )


async def create(
    st: state.ServerState,
    ctx: context.RequestContext,
    obj: dict[str, Any],
    *,
    managed_fields_done: bool = False,
) -> dict[str, Any]:
    """Run the pipeline for a new object and store it. Returns the stored object."""
    rt = ctx.rt
    objectmeta.check_identity(rt, obj, ctx.namespace, None)
    objectmeta.prepare_create(rt, obj, ctx.namespace, st.new_uid(), st.now())
    name = obj["metadata"].get("name") or ""
    try:
        check_namespace(st, rt, ctx.namespace)
    except errors.ApiError as exc:
        if exc.code == 403:
            exc.message = exc.message.replace("{name}", name)
            if exc.details:
                exc.details["name"] = name
        raise
    if rt.has_status and rt.group_resource != "nodes":
        obj.pop("status", None)
    _decode_semantics(ctx, obj)
    kindhooks.before_create(st, rt, obj)
    obj = await _admit(st, ctx, "CREATE", obj, None)
    _validate(ctx, obj, None)
    await _admit_validate(st, ctx, "CREATE", obj, None)
    if not managed_fields_done:
        _record_managed_fields(st, ctx, None, obj)
    if ctx.options.dry_run:
        return await _round_trip(rt, obj)
    if rt.is_custom and st.crd_terminating(rt):
        raise errors.method_not_allowed(
            "create not allowed while custom resource definition is terminating"
        )
    stored = await conversion.into_async(rt, obj)
    try:
        await st.store.create(rt.storage_key, stored)
    except store_mod.PreconditionFailed:
        raise errors.already_exists(rt.plural, name, rt.group) from None
    return await conversion.out_async(rt, stored)


async def _round_trip(rt: resources.ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """A dry run's answer: ``obj`` through the storage version and back, as a real write
    answers (kube's dry-run storage encodes and decodes it too), so a conversion that would
    fail fails the dry run."""
    return await conversion.out_async(rt, await conversion.into_async(rt, obj))


def _unchanged(new: dict[str, Any], old: dict[str, Any]) -> bool:
    if new.keys() != old.keys():
        return False
    for key in new:
        if key == "metadata":
            nm, om = new["metadata"], old["metadata"]
            if {k: v for k, v in nm.items() if k not in _VOLATILE_META} != {
                k: v for k, v in om.items() if k not in _VOLATILE_META
            }:
                return False
        elif new[key] != old[key]:
            return False
    return True


async def update(
    st: state.ServerState,
    ctx: context.RequestContext,
    obj: dict[str, Any],
    old_rec: records.Record,
    *,
    expect_rv: int | None,
    managed_fields_done: bool = False,
) -> dict[str, Any]:
    """Run the pipeline for a replacement of ``old_rec`` and store it (compare-and-swap on
    ``old_rec``'s resourceVersion). Returns the stored object."""
    rt = ctx.rt
    old = await conversion.out_async(rt, old_rec.obj())
    objectmeta.check_identity(rt, obj, ctx.namespace, old_rec.name)
    if expect_rv is not None and expect_rv != old_rec.rv:
        raise errors.conflict(rt.plural, old_rec.name, rt.group, _MODIFIED)
    if ctx.subresource == "status":
        # The status subresource changes status and nothing else.
        status = obj.get("status")
        mf = (obj.get("metadata") or {}).get("managedFields")
        # A copy of ``old`` (already converted: no second conversion review).
        obj = orjson.loads(orjson.dumps(old))
        if status is None:
            obj.pop("status", None)
        else:
            obj["status"] = status
        if mf is not None:
            obj["metadata"]["managedFields"] = mf
    elif rt.has_status:
        if "status" in old:
            obj["status"] = old["status"]
        else:
            obj.pop("status", None)
    objectmeta.prepare_update(rt, obj, old)
    _decode_semantics(ctx, obj)
    kindhooks.before_update(st, rt, obj, old)
    obj = await _admit(st, ctx, "UPDATE", obj, old)
    _validate(ctx, obj, old)
    await _admit_validate(st, ctx, "UPDATE", obj, old)
    if not managed_fields_done:
        _record_managed_fields(st, ctx, old, obj)
    if _unchanged(obj, old):
        return old
    if ctx.options.dry_run:
        obj["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
        return await _round_trip(rt, obj)
    meta = obj["metadata"]
    try:
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
        ):
            rec = await st.store.delete(rt.storage_key, old_rec.namespace, old_rec.name, old_rec.rv)
            return await conversion.out_async(rt, rec.obj())
        stored = await conversion.into_async(rt, obj)
        await st.store.update(rt.storage_key, stored, old_rec.rv)
    except store_mod.PreconditionFailed:
        exc = errors.conflict(rt.plural, old_rec.name, rt.group, _MODIFIED)
        raise WriteConflict(exc.code, exc.reason, exc.message, exc.details) from None
    return await conversion.out_async(rt, stored)
