"""DELETE and deletecollection: preconditions, finalizers and propagation policies.

An object with finalizers is not removed: it gets ``deletionTimestamp`` (and
``deletionGracePeriodSeconds: 0``) and stays until its finalizers are gone, and it accepts no
new finalizers meanwhile. The propagation policy becomes a finalizer, as in kube:

* ``Background`` (the default): the object goes now; the garbage collector
  (:mod:`pilothouse.apiserver.gc`) then deletes its dependents.
* ``Foreground``: the object keeps a ``foregroundDeletion`` finalizer until the collector has
  deleted every dependent that has ``blockOwnerDeletion: true``.
* ``Orphan``: the object keeps an ``orphan`` finalizer until the collector has removed the
  ownerReferences pointing at it from every dependent.
"""

from __future__ import annotations

import datetime
from typing import Any

from pilothouse.apiserver import conversion, errors, resources, state
from pilothouse.apiserver.rest import context, options, writes
from pilothouse.apiserver.store import records
from pilothouse.apiserver.store import store as store_mod

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"

# Kinds whose DELETE answers with the deleted object rather than a Status (kube's
# ReturnDeletedObject); custom resources do too.
_RETURNS_OBJECT = frozenset(
    {
        "pods",
        "namespaces",
        "nodes",
        "persistentvolumes",
        "persistentvolumeclaims",
        "services",
        "customresourcedefinitions.apiextensions.k8s.io",
    }
)


def _status_success(rt: resources.ResourceType, rec: records.Record) -> dict[str, Any]:
    details: dict[str, Any] = {"name": rec.name, "kind": rt.plural, "uid": rec.uid}
    if rt.group:
        details["group"] = rt.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


async def _admit_delete(
    st: state.ServerState,
    ctx: context.RequestContext,
    old: dict[str, Any],
    opts: options.DeleteOptions,
) -> None:
    if st.admission is None or not writes.has_webhooks(st, "validating"):
        return
    from pilothouse.apiserver import admission

    ns_labels = None
    if ctx.rt.namespaced:
        ns_rec = st.store.get("namespaces", "", ctx.namespace)
        ns_labels = dict(ns_rec.labels) if ns_rec else {}
    options_obj: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}
    if opts.propagation_policy:
        options_obj["propagationPolicy"] = opts.propagation_policy
    if opts.dry_run:
        options_obj["dryRun"] = ["All"]
    attrs = admission.Attributes(
        operation="DELETE",
        resource=ctx.rt,
        subresource="",
        namespace=ctx.namespace,
        name=old["metadata"]["name"],
        obj=None,
        old_obj=old,
        dry_run=opts.dry_run,
        options=options_obj,
        user_info=dict(ctx.user_info),
        namespace_labels=ns_labels,
    )
    ctx.warnings.extend(await st.admission.validate(attrs))


def _pod_grace(
    st: state.ServerState,
    rt: resources.ResourceType,
    obj: dict[str, Any],
    opts: options.DeleteOptions,
) -> int | None:
    """The grace period a pod gets before it is removed, or None.

    As on a real cluster, a pod bound to a node is not removed at once: it gets a
    ``deletionTimestamp`` ``gracePeriodSeconds`` ahead (default: the pod's
    ``terminationGracePeriodSeconds``) and stays until its kubelet confirms the containers
    stopped, by deleting it again with grace 0. Only when a kubelet exists to do so, i.e.
    with the simulated cluster; otherwise (and for unbound or finished pods) the pod goes
    at once, as envtest does.
    """
    if rt.group_resource != "pods" or not st.graceful_pods:
        return None
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    if opts.grace_period_seconds is not None:
        grace = opts.grace_period_seconds
    else:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    return max(int(grace), 0) or None


async def delete(
    st: state.ServerState,
    ctx: context.RequestContext,
    opts: options.DeleteOptions,
) -> dict[str, Any]:
    """Delete one object; returns the response body (object or Status)."""
    rt = ctx.rt
    for _ in range(10):
        rec = st.store.get(rt.storage_key, ctx.namespace, ctx.name)
        if rec is None:
            raise errors.not_found(rt.plural, ctx.name, rt.group)
        if opts.precondition_uid is not None and opts.precondition_uid != rec.uid:
            raise errors.conflict(
                rt.plural,
                ctx.name,
                rt.group,
                f"Precondition failed: UID in precondition: {opts.precondition_uid}, UID in "
                f"object meta: {rec.uid}",
            )
        if opts.precondition_rv is not None and opts.precondition_rv != str(rec.rv):
            raise errors.conflict(
                rt.plural,
                ctx.name,
                rt.group,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{opts.precondition_rv}, ResourceVersion in object meta: {rec.rv}",
            )
        obj = rec.obj()
        await _admit_delete(st, ctx, obj, opts)
        meta = obj["metadata"]
        finalizers: list[str] = list(meta.get("finalizers") or [])
        policy = opts.propagation_policy
        if policy == "Foreground" and FOREGROUND not in finalizers:
            finalizers = [f for f in finalizers if f != ORPHAN] + [FOREGROUND]
        elif policy == "Orphan" and ORPHAN not in finalizers:
            finalizers = [f for f in finalizers if f != FOREGROUND] + [ORPHAN]
        elif policy == "Background":
            finalizers = [f for f in finalizers if f not in (FOREGROUND, ORPHAN)]
        grace = _pod_grace(st, rt, obj, opts)
        pending = (
            bool(finalizers)
            or bool(grace)
            or (rt.group_resource == "namespaces" and (obj.get("spec") or {}).get("finalizers"))
        )
        if opts.dry_run:
            if pending or rt.is_custom or rt.group_resource in _RETURNS_OBJECT:
                return await conversion.out_async(rt, obj)
            return _status_success(rt, rec)
        try:
            if pending:
                current_grace = meta.get("deletionGracePeriodSeconds")
                shorter = grace is not None and (current_grace is None or grace < current_grace)
                if (
                    meta.get("deletionTimestamp")
                    and finalizers == list(meta.get("finalizers") or [])
                    and not shorter
                ):
                    # Already being deleted the same way.
                    return await conversion.out_async(rt, obj)
                meta["finalizers"] = finalizers
                if not meta.get("deletionTimestamp") or shorter:
                    when = st.clock() + datetime.timedelta(seconds=grace or 0)
                    meta["deletionTimestamp"] = state.format_time(when)
                    meta["deletionGracePeriodSeconds"] = grace or 0
                    if "generation" in meta:
                        meta["generation"] = int(meta["generation"]) + 1
                if rt.group_resource == "namespaces":
                    obj.setdefault("status", {})["phase"] = "Terminating"
                await st.store.update(rt.storage_key, obj, rec.rv)
                return await conversion.out_async(rt, obj)
            final = await st.store.delete(rt.storage_key, ctx.namespace, ctx.name, rec.rv)
        except store_mod.PreconditionFailed:
            # Someone wrote in between (admission awaited): start over on the new version.
            continue
        if rt.is_custom or rt.group_resource in _RETURNS_OBJECT:
            return await conversion.out_async(rt, final.obj())
        return _status_success(rt, final)
    raise errors.conflict(rt.plural, ctx.name, rt.group, "the object kept changing during deletion")


async def delete_collection(
    st: state.ServerState,
    ctx: context.RequestContext,
    opts: options.DeleteOptions,
    names: list[tuple[str, str]],
) -> None:
    """Delete every (namespace, name) given, ignoring the ones already gone."""
    for ns, name in names:
        sub = context.RequestContext(
            ctx.rt,
            ns,
            name,
            user_agent=ctx.user_agent,
            user_info=ctx.user_info,
            warnings=ctx.warnings,
        )
        try:
            await delete(st, sub, opts)
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
