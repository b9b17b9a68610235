"""Subresources (scale, binding, eviction, finalize) and the create-only review kinds.

``status`` needs no module of its own: it is the ordinary update pipeline with
``subresource="status"`` (see :func:`.writes.update`), which keeps everything but ``status``.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping
from typing import Any

from pilothouse.api import jsonpath
from pilothouse.apiserver import conversion, errors, resources, state, tokens
from pilothouse.apiserver.rest import context, deletion, options, writes
from pilothouse.apiserver.store import records
from pilothouse.apiserver.store import store as store_mod


def _path_get(obj: Mapping[str, Any], path: str) -> Any:
    found = jsonpath.parse(path).find(obj)
    return found[0] if found else None


def _path_set(obj: dict[str, Any], path: str, value: Any) -> None:
    keys = [k for k in path.strip().lstrip(".").split(".") if k]
    cur = obj
    for k in keys[:-1]:
        nxt = cur.get(k)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[k] = nxt
        cur = nxt
    cur[keys[-1]] = value


def _selector_string(sel: Any) -> str:
    if isinstance(sel, str):
        return sel
    if not isinstance(sel, Mapping):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for expr in sel.get("matchExpressions") or []:
        op, key, vals = expr.get("operator"), expr.get("key"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(vals))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(vals))})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def scale_of(rt: resources.ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ``autoscaling/v1 Scale`` view of a scalable object."""
    paths = rt.scale or resources.ScalePaths()
    meta = obj["metadata"]
    status: dict[str, Any] = {"replicas": int(_path_get(obj, paths.status_replicas) or 0)}
    if rt.is_custom:
        if paths.label_selector:
            sel = _path_get(obj, paths.label_selector)
            if sel:
                status["selector"] = str(sel)
    else:
        sel_s = _selector_string((obj.get("spec") or {}).get("selector"))
        if sel_s:
            status["selector"] = sel_s
    spec_replicas = _path_get(obj, paths.spec_replicas)
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": int(spec_replicas)} if spec_replicas is not None else {},
        "status": status,
    }


async def update_scale(
    st: state.ServerState,
    ctx: context.RequestContext,
    new_scale: Mapping[str, Any],
    rec: records.Record,
) -> dict[str, Any]:
    rt = ctx.rt
    replicas = (new_scale.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(
            "Scale",
            ctx.name,
            "autoscaling",
            [
                errors.Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {replicas}: must be greater than or equal to 0",
                    "spec.replicas",
                )
            ],
        )
    expect: int | None = None
    rv = (new_scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        expect = int(rv)
    obj = await conversion.out_async(rt, rec.obj())
    _path_set(obj, (rt.scale or resources.ScalePaths()).spec_replicas, replicas)
    sub_ctx = copy.copy(ctx)
    sub_ctx.subresource = ""  # the write changes spec, like kube's scale storage
    stored = await writes.update(st, sub_ctx, obj, rec, expect_rv=expect)
    return scale_of(rt, stored)


async def bind(
    st: state.ServerState, ctx: context.RequestContext, binding: Mapping[str, Any], pod_name: str
) -> dict[str, Any]:
    """``pods/binding`` and the ``bindings`` resource: assign a pod to a node."""
    target = binding.get("target") or {}
    node = target.get("name")
    if not node:
        raise errors.invalid(
            "Binding",
            pod_name,
            "",
            [errors.Cause("FieldValueRequired", "Required value", "target.name")],
        )
    pods = st.types.lookup("", "v1", "pods")
    assert pods is not None
    for _ in range(5):
        rec = st.store.get("pods", ctx.namespace, pod_name)
        if rec is None:
            raise errors.not_found("pods", pod_name)
        pod = rec.obj()
        spec = pod.setdefault("spec", {})
        if spec.get("nodeName"):
            raise errors.conflict(
                "pods",
                pod_name,
                "",
                f'pod {pod_name} is already assigned to node "{spec["nodeName"]}"',
            )
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict(
                "pods",
                pod_name,
                "",
                f"pod {pod_name} is being deleted, cannot be assigned to a host",
            )
        spec["nodeName"] = node
        conds = [
            c
            for c in (pod.setdefault("status", {}).get("conditions") or [])
            if c.get("type") != "PodScheduled"
        ]
        conds.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": st.now(),
            }
        )
        pod["status"]["conditions"] = conds
        try:
            if not ctx.options.dry_run:
                await st.store.update("pods", pod, rec.rv)
            break
        except store_mod.PreconditionFailed:
            continue  # lost a race with another write: retry on the new version
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def evict(
    st: state.ServerState, ctx: context.RequestContext, eviction: Mapping[str, Any]
) -> dict[str, Any]:
    """``pods/eviction``: delete a pod unless a disruption budget forbids it."""
    rec = st.store.get("pods", ctx.namespace, ctx.name)
    if rec is None:
        raise errors.not_found("pods", ctx.name)
    check = st.eviction_check
    if check is not None:
        await check(st, rec.obj())
    opts = options.DeleteOptions.parse(eviction.get("deleteOptions") or {}, {})
    pods = st.types.lookup("", "v1", "pods")
    assert pods is not None
    await deletion.delete(
        st, context.RequestContext(pods, ctx.namespace, ctx.name, user_agent=ctx.user_agent), opts
    )
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def finalize_namespace(
    st: state.ServerState, ctx: context.RequestContext, body: Mapping[str, Any]
) -> dict[str, Any]:
    """``namespaces/<name>/finalize``: replace ``spec.finalizers`` only."""
    for _ in range(5):
        rec = st.store.get("namespaces", "", ctx.name)
        if rec is None:
            raise errors.not_found("namespaces", ctx.name)
        ns = rec.obj()
        fins = (body.get("spec") or {}).get("finalizers") or []
        ns.setdefault("spec", {})["finalizers"] = list(fins)
        if not fins:
            ns["spec"].pop("finalizers")
        try:
            if (
                ns["metadata"].get("deletionTimestamp")
                and not fins
                and not ns["metadata"].get("finalizers")
            ):
                final = await st.store.delete("namespaces", "", ctx.name, rec.rv)
                return final.obj()
            await st.store.update("namespaces", ns, rec.rv)
            return ns
        except store_mod.PreconditionFailed:
            continue
    raise errors.conflict("namespaces", ctx.name, "", "the object has been modified")


def review(
    st: state.ServerState, rt: resources.ResourceType, body: dict[str, Any], user: dict[str, Any]
) -> dict[str, Any]:
    """Answer the create-only review kinds. There is no authorization layer (every
    authenticated user may do everything), so access reviews are always allowed; token
    reviews authenticate the tokens this server accepts."""
    body = dict(body)
    body["apiVersion"], body["kind"] = rt.api_version, rt.kind
    body.setdefault("metadata", {})
    body["metadata"]["creationTimestamp"] = None
    kind = rt.kind
    if kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        body["status"] = {"allowed": True, "reason": "pilothouse: every user is a cluster admin"}
    elif kind == "SelfSubjectRulesReview":
        body["status"] = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    elif kind == "TokenReview":
        given = str((body.get("spec") or {}).get("token") or "")
        who = tokens.authenticate(st.token, given) if st.token and given else None
        body["status"] = (
            {"authenticated": True, "user": who.info()} if who else {"authenticated": False}
        )
    elif kind == "SelfSubjectReview":
        body["status"] = {"userInfo": user}
    else:
        raise errors.method_not_allowed()
    return body


def token_request(
    st: state.ServerState, ctx: context.RequestContext, body: dict[str, Any]
) -> dict[str, Any]:
    """``serviceaccounts/<name>/token``: mint a token for an existing ServiceAccount."""
    sa = st.store.get("serviceaccounts", ctx.namespace, ctx.name)
    if sa is None:
        raise errors.not_found("serviceaccounts", ctx.name)
    spec = dict(body.get("spec") or {})
    seconds = spec.get("expirationSeconds", 3600)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 600:
        raise errors.invalid(
            "TokenRequest",
            ctx.name,
            "authentication.k8s.io",
            [
                errors.Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
                    "spec.expirationSeconds",
                )
            ],
        )
    expires = st.clock() + datetime.timedelta(seconds=seconds)
    audiences = [str(a) for a in spec.get("audiences") or []]
    token = tokens.mint(st.token, ctx.namespace, ctx.name, sa.uid, audiences, expires.timestamp())
    spec["expirationSeconds"] = seconds
    spec.setdefault("audiences", audiences)
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": ctx.name, "namespace": ctx.namespace, "creationTimestamp": None},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": state.format_time(expires)},
    }
