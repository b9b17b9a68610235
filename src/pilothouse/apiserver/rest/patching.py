"""PATCH in its four content types, and server-side apply.

=========================================  ============================================
``application/json-patch+json``            RFC 6902 operations
``application/merge-patch+json``           RFC 7386 merge patch
``application/strategic-merge-patch+json`` strategic merge patch (built-in kinds only;
                                           custom resources answer 415, as kube does)
``application/apply-patch+yaml``           server-side apply (YAML or JSON body);
                                           ``fieldManager`` is required
=========================================  ============================================

A patch is applied to the current object and the result goes through the ordinary update
pipeline (:mod:`.writes`). If another write lands meanwhile (admission webhooks await), the
patch is re-applied to the new version, up to a few times, exactly like kube's
GuaranteedUpdate loop; a ``metadata.resourceVersion`` inside the patch is a precondition
instead and a mismatch is a 409.
"""

from __future__ import annotations

from typing import Any

from pilothouse.apiserver import codec, conversion, errors, state
from pilothouse.apiserver.apply import apply as ssa
from pilothouse.apiserver.apply import managed
from pilothouse.apiserver.patch import jsonpatch, mergepatch, strategic
from pilothouse.apiserver.rest import context, writes

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
_RETRIES = 5


def patch_type(content_type: str) -> str:
    ct = content_type.split(";", 1)[0].strip().lower()
    if ct == "application/apply-patch+json":
        ct = APPLY_PATCH
    if ct not in _TYPES:
        raise errors.unsupported_media_type(content_type)
    return ct


def _precondition(patch: Any) -> int | None:
    if isinstance(patch, dict):
        rv = (patch.get("metadata") or {}).get("resourceVersion")
        if rv:
            try:
                return int(rv)
            except (TypeError, ValueError):
                raise errors.bad_request(f"invalid resourceVersion in patch: {rv!r}") from None
    return None


def _apply_patch(
    kind: str, ctx: context.RequestContext, current: dict[str, Any], patch: Any
) -> dict[str, Any]:
    if kind == JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.bad_request("json patch must be a list of operations")
        result = jsonpatch.apply(current, patch)
    elif kind == MERGE_PATCH:
        result = mergepatch.apply(current, patch)
    else:
        if not isinstance(patch, dict):
            raise errors.bad_request("strategic merge patch must be an object")
        result = strategic.apply(current, patch, writes.schema_for(ctx.rt))
    if not isinstance(result, dict):
        raise errors.bad_request("the patched object is not a JSON object")
    return result


async def patch(
    st: state.ServerState,
    ctx: context.RequestContext,
    body: bytes,
    content_type: str,
) -> tuple[dict[str, Any], int]:
    """Apply a PATCH request; returns the stored object and the HTTP status (201 when
    server-side apply created the object)."""
    rt = ctx.rt
    kind = patch_type(content_type)
    if kind == STRATEGIC_PATCH and rt.is_custom:
        raise errors.unsupported_media_type(content_type)
    if kind == APPLY_PATCH:
        if not ctx.options.field_manager:
            raise errors.bad_request(
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                "required for apply patch"
            )
        applied = codec.decode_object(body, "application/yaml")
        return await _apply(st, ctx, applied, body)
    if ctx.options.force:
        raise errors.ApiError(
            422,
            "Invalid",
            'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified '
            "for non-apply patch",
        )
    patch_doc = codec.decode(body, "application/json")
    expect = _precondition(patch_doc)
    for attempt in range(_RETRIES):
        rec = st.store.get(rt.storage_key, ctx.namespace, ctx.name)
        if rec is None:
            raise errors.not_found(rt.plural, ctx.name, rt.group)
        current = await conversion.out_async(rt, rec.obj())
        new = _apply_patch(kind, ctx, current, patch_doc)
        try:
            return await writes.update(st, ctx, new, rec, expect_rv=expect), 200
        except writes.WriteConflict:
            if expect is not None or attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")


async def _apply(
    st: state.ServerState, ctx: context.RequestContext, applied: dict[str, Any], body: bytes
) -> tuple[dict[str, Any], int]:
    """Server-side apply of ``applied``, decoded from ``body``. Each attempt hands its own
    decoded configuration (and the current object) over to the apply, which then need not
    copy them: the result shares their parts, and the write pipeline changes it in place."""
    rt = ctx.rt
    meta = applied.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise errors.bad_request("metadata.name is required for apply")
    if not applied.get("apiVersion") or not applied.get("kind"):
        raise errors.bad_request("apiVersion and kind are required for apply")
    from pilothouse.apiserver.rest import objectmeta

    objectmeta.check_identity(rt, applied, ctx.namespace, ctx.name)
    schema = writes.schema_for(rt)
    manager = ctx.options.field_manager
    for attempt in range(_RETRIES):
        if attempt:  # the last attempt's configuration may have been changed: decode afresh
            applied = codec.decode_object(body, "application/yaml")
        rec = st.store.get(rt.storage_key, ctx.namespace, ctx.name)
        if rec is None:
            if ctx.subresource:
                raise errors.not_found(rt.plural, ctx.name, rt.group)
            obj = ssa.server_side_apply(
                None,
                applied,
                manager,
                ctx.options.force,
                schema,
                rt.api_version,
                st.now(),
                reset_fields=managed.reset_fields_for("", rt.has_status),
                consume=True,
            )
            obj.setdefault("metadata", {})["name"] = ctx.name
            try:
                return await writes.create(st, ctx, obj, managed_fields_done=True), 201
            except errors.ApiError as exc:
                if exc.reason == "AlreadyExists" and attempt < _RETRIES - 1:
                    continue
                raise
        current = await conversion.out_async(rt, rec.obj())
        obj = ssa.server_side_apply(
            current,
            applied,
            manager,
            ctx.options.force,
            schema,
            rt.api_version,
            st.now(),
            ctx.subresource,
            reset_fields=managed.reset_fields_for(ctx.subresource, rt.has_status),
            consume=True,
        )
        try:
            return await writes.update(
                st, ctx, obj, rec, expect_rv=_precondition(applied), managed_fields_done=True
            ), 200
        except writes.WriteConflict:
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")
