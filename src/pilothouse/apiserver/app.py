"""The HTTP face of the API server: authentication, routing, and error rendering.

One catch-all route hands every request to :func:`dispatch`, which tells discovery, OpenAPI
and health endpoints from resource requests (parsed by :mod:`.request`) and calls the verb
handlers in :mod:`.rest`. Every failure leaves as a ``Status`` object; an unexpected
exception is logged and answered 500 without taking the server down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from pilothouse.apiserver import (
    codec,
    conversion,
    discovery,
    errors,
    openapi,
    requestinfo,
    resources,
    state,
    tables,
    tokens,
)
from pilothouse.apiserver.rest import (
    context,
    deletion,
    negotiation,
    objectmeta,
    options,
    patching,
    reads,
    subresources,
    watching,
    writes,
)

log = logging.getLogger(__name__)

STATE_KEY: web.AppKey[state.ServerState] = web.AppKey("state", state.ServerState)
_PUBLIC = ("/healthz", "/livez", "/readyz", "/version")


def _json(
    body: Any,
    status: int = 200,
    content_type: str = "application/json",
    warnings: list[str] | None = None,
) -> web.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = web.Response(body=data, status=status, headers={"Content-Type": content_type})
    for w in dict.fromkeys(warnings or []):
        resp.headers.add("Warning", f'299 - "{w}"')
    return resp


def _error(exc: errors.ApiError) -> web.Response:
    resp = _json(exc.status(), exc.code)
    for k, v in exc.headers.items():
        resp.headers[k] = v
    return resp


USER_KEY: web.RequestKey[tokens.User | None] = web.RequestKey("user", tokens.User)


@web.middleware
async def _middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    st = request.app[STATE_KEY]
    user: tokens.User | None = tokens.ADMIN
    if st.token:
        auth = request.headers.get("Authorization", "")
        user = (
            tokens.authenticate(st.token, auth[7:].strip()) if auth.startswith("Bearer ") else None
        )
        if user is None and not request.path.startswith(_PUBLIC):
            return _error(errors.unauthorized())
    request[USER_KEY] = user
    try:
        resp = await handler(request)
        warning = _deprecation(st, request.path)
        if warning and not resp.prepared:
            resp.headers.add("Warning", f'299 - "{warning}"')
        return resp
    except errors.ApiError as exc:
        return _error(exc)
    except web.HTTPRequestEntityTooLarge:
        return _error(errors.too_large())
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return _error(errors.internal(f"{type(exc).__name__}: {exc}"))


def _deprecation(st: state.ServerState, path: str) -> str | None:
    """kube-apiserver's warning for a request to a deprecated custom resource version."""
    parts = path.strip("/").split("/")
    if len(parts) < 4 or parts[0] != "apis":
        return None
    group, version = parts[1], parts[2]
    rest = parts[3:]
    if rest[0] == "namespaces" and len(rest) >= 3:
        rest = rest[2:]
    rt = st.types.lookup(group, version, rest[0])
    if rt is None or rt.crd_version is None or not rt.crd_version.get("deprecated"):
        return None
    message = rt.crd_version.get("deprecationWarning")
    return str(message) if message else f"{group}/{version} {rt.kind} is deprecated"


async def _body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > codec.MAX_BODY:
        raise errors.too_large()
    data = await request.read()
    if len(data) > codec.MAX_BODY:
        raise errors.too_large()
    return data


def _content_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "application/json")


async def _health(request: web.Request) -> web.Response:
    path = request.path
    if request.query.get("verbose") is not None:
        name = path.strip("/").split("/")[0]
        return web.Response(text=f"[+]ping ok\n[+]etcd ok\n{name} check passed\n")
    return web.Response(text="ok")


def _discovery(request: web.Request, st: state.ServerState) -> web.Response | None:
    path = request.path.rstrip("/")
    types = st.types.all()
    accept = request.headers.get("Accept", "")
    if path == "/version":
        return _json(discovery.version_info())
    if path in ("/api", "/apis"):
        mode, ctype = discovery.negotiate_discovery(accept)
        if mode != "legacy":
            doc = (
                discovery.aggregated_core(types)
                if path == "/api"
                else discovery.aggregated_groups(types)
            )
            if mode == "aggregated-v2beta1":
                doc["apiVersion"] = "apidiscovery.k8s.io/v2beta1"
            return _json(doc, content_type=ctype)
        return _json(
            discovery.api_versions() if path == "/api" else discovery.api_group_list(types)
        )
    parts = path.strip("/").split("/")
    if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) in (2, 3)):
        if parts[0] == "api":
            listing = discovery.api_resource_list(types, "", parts[1])
        elif len(parts) == 2:
            listing = discovery.api_group(types, parts[1])
        else:
            listing = discovery.api_resource_list(types, parts[1], parts[2])
        if listing is None:
            raise _page_not_found()
        return _json(listing)
    if path == "/openapi/v2":
        v2_type = openapi.negotiate_openapi(accept, 2)
        if v2_type is None:
            raise errors.ApiError(
                406, "NotAcceptable", "only application/json and protobuf are served"
            )
        v2_body, etag = openapi.v2_serialized(types, v2_type)
        resp = _json(v2_body, content_type=v2_type)
        resp.headers["ETag"] = f'"{etag}"'
        return resp
    if path == "/openapi/v3":
        return _json(openapi.v3_index(types))
    if path.startswith("/openapi/v3/"):
        found = openapi.v3_serialized(types, path[len("/openapi/v3/") :])
        if found is None:
            raise _page_not_found()
        v3_body, digest = found
        resp = _json(v3_body)
        resp.headers["ETag"] = f'"{digest}"'
        if request.query.get("hash") == digest:
            resp.headers["Cache-Control"] = "public, immutable"
        return resp
    return None


def _page_not_found() -> errors.ApiError:
    return errors.ApiError(
        404,
        "NotFound",
        "the server could not find the requested resource",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]},
    )


async def dispatch(request: web.Request) -> web.StreamResponse:
    st = request.app[STATE_KEY]
    path = request.path
    if path.startswith(("/healthz", "/livez", "/readyz")):
        return await _health(request)
    if request.method == "GET":
        resp = _discovery(request, st)
        if resp is not None:
            return resp
    query = request.query
    info = requestinfo.parse(
        path, request.method, watch_param=query.get("watch", "") in ("true", "1")
    )
    if info is None:
        raise _page_not_found()
    rt = st.types.lookup(info.group, info.version, info.resource)
    if rt is None or (info.namespaced_path and not rt.namespaced):
        raise _page_not_found()
    namespace = info.namespace if rt.namespaced else ""
    ctx = context.RequestContext(
        rt, namespace, info.name, info.subresource, user_agent=request.headers.get("User-Agent", "")
    )
    user = request.get(USER_KEY)
    if user is not None:
        ctx.user_info = user.info()
    if info.subresource:
        return await _subresource(request, st, ctx, info.verb)
    return await _resource(request, st, ctx, info.verb)


async def _delete_options(request: web.Request) -> options.DeleteOptions:
    raw = await _body(request)
    doc = codec.decode_object(raw, _content_type(request)) if raw.strip() else None
    return options.DeleteOptions.parse(doc, request.query)


def _require(rt: resources.ResourceType, verb: str) -> None:
    if not rt.supports(verb):
        raise errors.method_not_allowed()


def _render(
    request: web.Request,
    st: state.ServerState,
    rt: resources.ResourceType,
    obj: dict[str, Any],
    status: int = 200,
    warnings: list[str] | None = None,
) -> web.Response:
    output, ctype = negotiation.choose(request.headers.get("Accept"))
    if output == "table":
        return _json(
            tables.to_table(
                rt,
                [obj],
                include_object=request.query.get("includeObject", "Metadata"),
                now=st.clock(),
            ),
            status,
            ctype,
            warnings,
        )
    if output == "partial" and obj.get("kind") != "Status":
        return _json(negotiation.partial(obj), status, ctype, warnings)
    return _json(obj, status, warnings=warnings)


async def _resource(
    request: web.Request, st: state.ServerState, ctx: context.RequestContext, verb: str
) -> web.StreamResponse:
    rt, query = ctx.rt, request.query
    if verb == "get":
        _require(rt, "get")
        rec = st.store.get(rt.storage_key, ctx.namespace, ctx.name)
        if rec is None:
            raise errors.not_found(rt.plural, ctx.name, rt.group)
        output, ctype = negotiation.choose(request.headers.get("Accept"))
        if output == "object":
            return _json(await conversion.raw_out_async(rt, rec.raw))
        return _render(request, st, rt, await conversion.out_async(rt, rec.obj()))
    if verb == "list":
        _require(rt, "list")
        recs, meta = reads.select(st, rt, ctx.namespace, query)
        output, ctype = negotiation.choose(request.headers.get("Accept"))
        if output == "object":
            return _json(await reads.list_body(rt, recs, meta))
        objs = await conversion.out_list_async(rt, [r.obj() for r in recs])
        if output == "table":
            return _json(
                tables.to_table(
                    rt,
                    objs,
                    include_object=query.get("includeObject", "Metadata"),
                    list_meta=meta,
                    now=st.clock(),
                ),
                content_type=ctype,
            )
        body = {
            "kind": "PartialObjectMetadataList",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "items": [negotiation.partial(o) for o in objs],
        }
        return _json(body, content_type=ctype)
    if verb == "watch":
        _require(rt, "watch")
        output, ctype = negotiation.choose(request.headers.get("Accept"))
        return await watching.serve(
            request,
            st,
            rt,
            ctx.namespace,
            output,
            ctype if output != "object" else "application/json",
        )
    if verb == "create":
        _require(rt, "create")
        ctx.options = options.WriteOptions.from_query(query)
        obj = codec.decode_object(await _body(request), _content_type(request))
        if not rt.persisted:
            return _json(subresources.review(st, rt, obj, ctx.user_info), 201)
        if rt.group_resource == "bindings":
            name = (obj.get("metadata") or {}).get("name", "")
            return _json(await subresources.bind(st, ctx, obj, name), 201)
        stored = await writes.create(st, ctx, obj)
        return _render(request, st, rt, stored, 201, ctx.warnings)
    if verb == "update":
        _require(rt, "update")
        ctx.options = options.WriteOptions.from_query(query)
        obj = codec.decode_object(await _body(request), _content_type(request))
        objectmeta.check_identity(rt, obj, ctx.namespace, ctx.name)
        rec = st.store.get(rt.storage_key, ctx.namespace, ctx.name)
        rv_s = (obj.get("metadata") or {}).get("resourceVersion")
        if rec is None:
            if rt.group_resource in ("leases.coordination.k8s.io", "endpoints"):
                return _render(
                    request, st, rt, await writes.create(st, ctx, obj), 201, ctx.warnings
                )
            raise errors.not_found(rt.plural, ctx.name, rt.group)
        try:
            expect = int(rv_s) if rv_s else None
        except (TypeError, ValueError):
            raise errors.bad_request(f"invalid resourceVersion: {rv_s!r}") from None
        stored = await writes.update(st, ctx, obj, rec, expect_rv=expect)
        return _render(request, st, rt, stored, 200, ctx.warnings)
    if verb == "patch":
        _require(rt, "patch")
        ctx.options = options.WriteOptions.from_query(query, patch=True)
        stored, status = await patching.patch(st, ctx, await _body(request), _content_type(request))
        return _render(request, st, rt, stored, status, ctx.warnings)
    if verb == "delete":
        _require(rt, "delete")
        opts = await _delete_options(request)
        result = await deletion.delete(st, ctx, opts)
        return _render(request, st, rt, result, 200, ctx.warnings)
    if verb == "deletecollection":
        _require(rt, "deletecollection")
        opts = await _delete_options(request)
        match = reads.matcher(rt, ctx.namespace, query)
        names = [
            (r.namespace, r.name)
            for r in st.store.iter(rt.storage_key, ctx.namespace or None)
            if match(r)
        ]
        await deletion.delete_collection(st, ctx, opts, names)
        return _json(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"},
            warnings=ctx.warnings,
        )
    raise errors.method_not_allowed()


async def _subresource(
    request: web.Request, st: state.ServerState, ctx: context.RequestContext, verb: str
) -> web.StreamResponse:
    rt, sub, query = ctx.rt, ctx.subresource, request.query
    if sub not in rt.subresources:
        raise _page_not_found()
    ctx.options = options.WriteOptions.from_query(query)
    if sub == "status":
        if verb == "get":
            rec = st.store.get(rt.storage_key, ctx.namespace, ctx.name)
            if rec is None:
                raise errors.not_found(rt.plural, ctx.name, rt.group)
            return _render(request, st, rt, await conversion.out_async(rt, rec.obj()))
        if verb == "update":
            obj = codec.decode_object(await _body(request), _content_type(request))
            rec = st.store.get(rt.storage_key, ctx.namespace, ctx.name)
            if rec is None:
                raise errors.not_found(rt.plural, ctx.name, rt.group)
            rv_s = (obj.get("metadata") or {}).get("resourceVersion")
            stored = await writes.update(st, ctx, obj, rec, expect_rv=int(rv_s) if rv_s else None)
            return _render(request, st, rt, stored, 200, ctx.warnings)
        if verb == "patch":
            stored, status = await patching.patch(
                st, ctx, await _body(request), _content_type(request)
            )
            return _render(request, st, rt, stored, status, ctx.warnings)
    elif sub == "scale":
        rec = st.store.get(rt.storage_key, ctx.namespace, ctx.name)
        if rec is None:
            raise errors.not_found(rt.plural, ctx.name, rt.group)
        if verb == "get":
            return _json(subresources.scale_of(rt, await conversion.out_async(rt, rec.obj())))
        if verb == "update":
            scale = codec.decode_object(await _body(request), _content_type(request))
            return _json(await subresources.update_scale(st, ctx, scale, rec))
        if verb == "patch":
            current = subresources.scale_of(rt, await conversion.out_async(rt, rec.obj()))
            kind = patching.patch_type(_content_type(request))
            patch_doc = codec.decode(
                await _body(request),
                "application/yaml" if kind == patching.APPLY_PATCH else "application/json",
            )
            from pilothouse.apiserver.patch import jsonpatch, mergepatch

            if kind == patching.JSON_PATCH:
                new_scale = jsonpatch.apply(current, patch_doc)
            else:
                new_scale = mergepatch.apply(current, patch_doc)
            return _json(await subresources.update_scale(st, ctx, new_scale, rec))
    elif sub == "binding" and verb == "create":
        binding = codec.decode_object(await _body(request), _content_type(request))
        return _json(await subresources.bind(st, ctx, binding, ctx.name), 201)
    elif sub == "eviction" and verb == "create":
        eviction = codec.decode_object(await _body(request), _content_type(request))
        return _json(await subresources.evict(st, ctx, eviction), 201)
    elif sub == "token" and verb == "create":
        request_body = codec.decode_object(await _body(request), _content_type(request))
        return _json(subresources.token_request(st, ctx, request_body), 201)
    elif sub == "finalize" and verb == "update":
        body = codec.decode_object(await _body(request), _content_type(request))
        return _json(await subresources.finalize_namespace(st, ctx, body))
    raise errors.method_not_allowed()


def build_app(st: state.ServerState) -> web.Application:
    # One byte over the limit so that aiohttp's own check never fires before ours.
    app = web.Application(middlewares=[_middleware], client_max_size=codec.MAX_BODY + 1)
    app[STATE_KEY] = st
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
