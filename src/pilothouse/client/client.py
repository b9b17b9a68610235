"""The async client: CRUD, server-side apply, status updates and watches, over aiohttp.

Design choices:

* **Raw JSON inside, types at the edge.** Every call speaks ``dict``\\ s to the server
  (decoded with orjson); a typed target (:mod:`.typed`) is decoded only on the way out. The
  informer cache and the controllers run on dicts, so the hot path never builds models.
* **Server-side apply is the normal write.** :meth:`Client.apply` sends the desired object
  as an ``application/apply-patch+yaml`` PATCH under a field manager; the server merges
  it with what others own and reports conflicts (409) unless ``force``.
* **Status goes through the status subresource**, with :meth:`Client.update_status_with_retry`
  re-reading and re-applying a mutation on 409 Conflict.
* **Errors are exceptions** from :mod:`.errors`, chosen by HTTP code and Status reason.
* **Requests are counted** (:attr:`Client.requests`) and reported to an optional hook
  (``rest_client_requests_total`` in the runtime's metrics), so benchmarks and dashboards
  can see how many calls a controller makes.

Caveat: a 401 is retried once with fresh credentials (rotated tokens, expired exec
credentials); nothing else is retried here -- retries with backoff are the controller's job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson

from pilothouse.api import kinds
from pilothouse.client import config as config_mod
from pilothouse.client import errors, typed
from pilothouse.client import watch as watch_mod

PatchType = Literal["merge", "json", "strategic", "apply"]

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}

_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
# How long close() waits for connections in their TLS shutdown before giving up on them.
_CLOSE_GRACE = 5.0

#: Called after each request with (method, HTTP code or "<error>", seconds).
RequestHook = Callable[[str, str, float], None]


@dataclass(frozen=True, slots=True)
class ObjectList:
    items: list[dict[str, Any]]
    resource_version: str
    continue_: str | None = None
    remaining: int | None = None


@dataclass(frozen=True, slots=True)
class Preconditions:
    """Delete only if the object still has this uid and/or resourceVersion."""

    uid: str | None = None
    resource_version: str | None = None

    def to_json(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.uid:
            out["uid"] = self.uid
        if self.resource_version:
            out["resourceVersion"] = self.resource_version
        return out


class Client:
    """One connection pool to one cluster. Use ``async with Client(config) as c:``, or call
    :meth:`close` when done. Safe to share between all controllers of a process."""

    def __init__(
        self,
        config: config_mod.ClientConfig,
        *,
        user_agent: str = "pilothouse",
        on_request: RequestHook | None = None,
        max_connections: int = 100,
    ) -> None:
        self.config = config
        self.user_agent = user_agent
        self.on_request = on_request
        self.requests = 0
        self.host = urlsplit(config.server).netloc
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._discovered: dict[str, dict[str, kinds.Kind]] = {}
        # One discovery request per group version in flight: the first caller fetches, the
        # others await its answer (32 workers meeting a new kind at once send one GET).
        self._discovering: dict[str, asyncio.Future[dict[str, kinds.Kind]]] = {}
        self._closing: set[asyncio.Future[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                ssl=self.config.ssl_context if self.config.ssl_context is not None else False,
                limit=self._max_connections,
            )
            # No ``base_url``: aiohttp would drop a path prefix of the server URL (a cluster
            # behind a proxy, ``https://rancher.example/k8s/clusters/c-1``); see _url.
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.user_agent},
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    async def close(self) -> None:
        """Close every connection and wait (up to a few seconds) until their sockets are
        closed, so that a loop ended right after this call leaks none.

        aiohttp waits for the connections it still holds; a watch that ended early closed
        its connection itself, and that connection's TLS shutdown may still be in flight.
        """
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        pending = [f for f in self._closing if not f.done()]
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_GRACE)

    def _track_close(self, resp: aiohttp.ClientResponse) -> None:
        """Remember when ``resp``'s connection will have closed (see :meth:`close`)."""
        conn = resp.connection
        closed = conn.protocol.closed if conn is not None and conn.protocol is not None else None
        if closed is None or closed.done():
            return
        self._closing.add(closed)
        closed.add_done_callback(self._closed_done)

    def _closed_done(self, fut: asyncio.Future[None]) -> None:
        self._closing.discard(fut)
        if not fut.cancelled():
            fut.exception()  # retrieved: a connection lost with an error is not news here

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def namespace(self) -> str:
        """The default namespace of the configuration's context."""
        return self.config.namespace

    def _url(self, path: str) -> str:
        """The server URL (which may carry a path prefix) joined with an API path."""
        return self.config.server.rstrip("/") + path

    # -- transport -------------------------------------------------------------------------

    async def _headers(
        self, content_type: str | None, accept: str = "application/json"
    ) -> dict[str, str]:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        auth = await self.config.auth.header()
        if auth:
            headers["Authorization"] = auth
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """One request; the decoded JSON answer, or an :class:`errors.ApiError`."""
        data = orjson.dumps(body) if body is not None else None
        for attempt in (0, 1):
            headers = await self._headers(content_type if data is not None else None, accept)
            start = time.perf_counter()
            code = "<error>"
            self.requests += 1
            try:
                async with self._http().request(
                    method, self._url(path), params=params, data=data, headers=headers
                ) as resp:
                    code = str(resp.status)
                    raw = await resp.read()
            finally:
                if self.on_request is not None:
                    self.on_request(method, code, time.perf_counter() - start)
            if resp.status == 401 and attempt == 0:
                self.config.auth.invalidate()
                continue
            if resp.status >= 400:
                raise _error(resp.status, raw)
            return orjson.loads(raw) if raw else None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- kinds -----------------------------------------------------------------------------

    async def kind_for(self, api_version: str, kind: str) -> kinds.Kind:
        """Map ``apiVersion``/``kind`` to a :class:`Kind` (built-in table, then discovery)."""
        known = kinds.builtin(api_version, kind)
        if known is not None:
            return known
        resources = self._discovered.get(api_version)
        if resources is None or kind not in resources:
            resources = await self._discover(api_version)
        try:
            return resources[kind]
        except KeyError:
            raise errors.NotFound(
                {"reason": "NotFound", "message": f'no kind "{kind}" in {api_version}'}, 404
            ) from None

    async def _discover(self, api_version: str) -> dict[str, kinds.Kind]:
        pending = self._discovering.get(api_version)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[dict[str, kinds.Kind]] = asyncio.get_running_loop().create_future()
        self._discovering[api_version] = fut
        try:
            found = await self._fetch_discovery(api_version)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved here: waiters get it through their await
            raise
        else:
            fut.set_result(found)
            return found
        finally:
            del self._discovering[api_version]

    async def _fetch_discovery(self, api_version: str) -> dict[str, kinds.Kind]:
        group, version = kinds.parse_api_version(api_version)
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        doc = await self.request("GET", path)
        found: dict[str, kinds.Kind] = {}
        for res in doc.get("resources", []):
            if "/" in res["name"]:
                continue
            found[res["kind"]] = kinds.Kind(
                group, version, res["kind"], res["name"], bool(res.get("namespaced"))
            )
        self._discovered[api_version] = found
        return found

    def forget_discovery(self) -> None:
        """Drop cached discovery (after CRDs were installed or removed)."""
        self._discovered.clear()

    async def _resolve(self, target: Any) -> kinds.Kind:
        return typed.require_kind(target)

    async def _kind_of_object(self, obj: dict[str, Any], target: Any) -> kinds.Kind:
        if target is not None:
            found = typed.kind_of_type(target)
            if found is not None:
                return found
        gvk = kinds.gvk_of(obj)
        return await self.kind_for(gvk.api_version, gvk.kind)

    def _namespace(self, kind: kinds.Kind, obj: Mapping[str, Any], given: str | None) -> str | None:
        if not kind.namespaced:
            return None
        return given or obj.get("metadata", {}).get("namespace") or self.namespace

    # -- reads -----------------------------------------------------------------------------

    async def get(self, kind: Any, name: str, namespace: str | None = None) -> Any:
        k = await self._resolve(kind)
        ns = (namespace or self.namespace) if k.namespaced else None
        return typed.decode(kind, await self.request("GET", k.path(ns, name)))

    async def list(
        self,
        kind: Any,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
        metadata_only: bool = False,
    ) -> ObjectList:
        """One page of a list (all namespaces when ``namespace`` is None). Items are dicts
        with ``apiVersion`` and ``kind`` filled in, as a watch would deliver them.
        ``metadata_only`` asks for ``PartialObjectMetadata`` (metadata, no spec/status)."""
        k = await self._resolve(kind)
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if limit:
            params["limit"] = str(limit)
        if continue_:
            params["continue"] = continue_
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        doc = await self.request(
            "GET",
            k.path(namespace if k.namespaced else None),
            params=params,
            accept=_METADATA_LIST if metadata_only else "application/json",
        )
        items = doc.get("items") or []
        for item in items:
            item.setdefault("apiVersion", k.api_version)
            item.setdefault("kind", k.kind)
        meta = doc.get("metadata") or {}
        return ObjectList(
            items,
            str(meta.get("resourceVersion", "")),
            meta.get("continue") or None,
            meta.get("remainingItemCount"),
        )

    async def list_all(self, kind: Any, namespace: str | None = None, **kw: Any) -> ObjectList:
        """Every page of a list, followed through ``continue`` tokens."""
        items: list[dict[str, Any]] = []
        cont: str | None = kw.pop("continue_", None)
        rv = ""
        while True:
            page = await self.list(kind, namespace, continue_=cont, **kw)
            items.extend(page.items)
            rv = rv or page.resource_version
            cont = page.continue_
            if not cont:
                return ObjectList(items, rv)

    async def watch(
        self,
        kind: Any,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
        inactivity_timeout: float | None = None,
        metadata_only: bool = False,
    ) -> AsyncIterator[watch_mod.WatchEvent]:
        """Stream watch events. An ``ERROR`` event is raised as its :class:`errors.ApiError`
        (``Gone`` for an expired resourceVersion). ``inactivity_timeout`` ends the stream
        with :class:`TimeoutError` when nothing (not even a bookmark) arrives for that
        long, which catches connections that died silently."""
        k = await self._resolve(kind)
        params: dict[str, str] = {"watch": "1"}
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
        headers = await self._headers(None, _METADATA if metadata_only else "application/json")
        # The inactivity timeout bounds the connection's set-up too (TCP connect and TLS
        # handshake): a server that went silent must not hang a reconnecting watch.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=inactivity_timeout, sock_read=inactivity_timeout
        )
        self.requests += 1
        path = k.path(namespace if k.namespaced else None)
        start = time.perf_counter()
        try:
            response = await self._http().get(
                self._url(path), params=params, headers=headers, timeout=timeout
            )
        except BaseException:
            # Reported like any request that got no answer (as :meth:`request` does).
            if self.on_request is not None:
                self.on_request("WATCH", "<error>", time.perf_counter() - start)
            raise
        async with response as resp:
            self._track_close(resp)
            if self.on_request is not None:
                self.on_request("WATCH", str(resp.status), time.perf_counter() - start)
            if resp.status == 401:
                self.config.auth.invalidate()
            if resp.status >= 400:
                raise _error(resp.status, await resp.read())
            try:
                async for line in watch_mod.lines(resp.content.iter_any()):
                    event = watch_mod.parse(line)
                    if event.type == "ERROR":
                        status = event.object
                        raise errors.from_status(status, int(status.get("code") or 500))
                    yield event
            except aiohttp.ServerTimeoutError as exc:
                raise TimeoutError(f"watch of {k} silent for {inactivity_timeout}s") from exc

    # -- writes ----------------------------------------------------------------------------

    async def create(
        self,
        obj: Any,
        *,
        namespace: str | None = None,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> Any:
        body = typed.encode(obj)
        k = await self._kind_of_object(body, typed.type_of_instance(obj))
        params = _write_params(field_manager, dry_run)
        ns = self._namespace(k, body, namespace)
        out = await self.request("POST", k.path(ns), params=params, body=body)
        return typed.decode(typed.type_of_instance(obj) or k, out)

    async def update(self, obj: Any, *, field_manager: str | None = None) -> Any:
        """PUT the whole object; 409 :class:`errors.Conflict` if its resourceVersion is stale."""
        return await self._put(obj, None, field_manager)

    async def update_status(self, obj: Any, *, field_manager: str | None = None) -> Any:
        """PUT the object's status through the status subresource (409 if stale)."""
        return await self._put(obj, "status", field_manager)

    async def _put(
        self,
        obj: Any,
        subresource: str | None,
        field_manager: str | None,
        kind: kinds.Kind | None = None,
    ) -> Any:
        body = typed.encode(obj)
        k = kind or await self._kind_of_object(body, typed.type_of_instance(obj))
        name = body.get("metadata", {}).get("name")
        if not name:
            raise ValueError("object has no metadata.name")
        path = k.path(self._namespace(k, body, None), name)
        if subresource:
            path = f"{path}/{subresource}"
        out = await self.request("PUT", path, params=_write_params(field_manager), body=body)
        return typed.decode(typed.type_of_instance(obj) or k, out)

    async def update_status_with_retry(
        self,
        kind: Any,
        name: str,
        namespace: str | None,
        mutate: Callable[[dict[str, Any]], Any],
        *,
        attempts: int = 5,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Read the object, let ``mutate`` change it in place (return False to skip the
        write), PUT its status; on 409 Conflict read again and repeat, up to ``attempts``.
        Returns the object as stored."""
        k = await self._resolve(kind)
        for attempt in range(attempts):
            current: dict[str, Any] = await self.get(k, name, namespace)
            if mutate(current) is False:
                return current
            try:
                result: dict[str, Any] = await self._put(current, "status", field_manager, k)
                return result
            except errors.Conflict:
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def apply(
        self,
        obj: Any,
        *,
        field_manager: str,
        force: bool = False,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Any:
        """Server-side apply: make ``field_manager`` own exactly the fields in ``obj``.
        Creates the object if it does not exist. 409 :class:`errors.Conflict` names the
        other managers' fields unless ``force`` takes them over."""
        body = typed.encode(obj)
        k = await self._kind_of_object(body, typed.type_of_instance(obj))
        name = body.get("metadata", {}).get("name")
        if not name:
            raise ValueError("server-side apply needs metadata.name")
        if "apiVersion" not in body or "kind" not in body:
            body = {"apiVersion": k.api_version, "kind": k.kind, **body}
        path = k.path(self._namespace(k, body, None), name)
        if subresource:
            path = f"{path}/{subresource}"
        params = _write_params(field_manager, dry_run)
        if force:
            params["force"] = "true"
        out = await self.request(
            "PATCH", path, params=params, body=body, content_type=_PATCH_CONTENT_TYPES["apply"]
        )
        return typed.decode(typed.type_of_instance(obj) or k, out)

    async def apply_status(self, obj: Any, *, field_manager: str, force: bool = True) -> Any:
        """Server-side apply of ``status`` through the status subresource."""
        return await self.apply(obj, field_manager=field_manager, force=force, subresource="status")

    async def patch(
        self,
        kind: Any,
        name: str,
        patch: Any,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool | None = None,
        subresource: str | None = None,
    ) -> Any:
        k = await self._resolve(kind)
        path = k.path((namespace or self.namespace) if k.namespaced else None, name)
        if subresource:
            path = f"{path}/{subresource}"
        if not isinstance(patch, (dict, list)):
            # A typed object (a lightkube model, a custom-resource model) as a merge,
            # strategic or apply patch: send its JSON form, as the other writes do.
            patch = typed.encode(patch)
        params = _write_params(field_manager)
        if force is not None:
            params["force"] = "true" if force else "false"
        out = await self.request(
            "PATCH", path, params=params, body=patch, content_type=_PATCH_CONTENT_TYPES[patch_type]
        )
        return typed.decode(kind, out)

    async def delete(
        self,
        kind: Any,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        preconditions: Preconditions | None = None,
        grace_period_seconds: int | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any] | None:
        """Delete one object. Returns the object while it is still terminating (finalizers,
        foreground deletion), or None when the server answered with a Status (gone)."""
        k = await self._resolve(kind)
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if preconditions is not None:
            body["preconditions"] = preconditions.to_json()
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if dry_run:
            body["dryRun"] = ["All"]
        path = k.path((namespace or self.namespace) if k.namespaced else None, name)
        out = await self.request("DELETE", path, body=body)
        if isinstance(out, dict) and out.get("kind") == "Status":
            return None
        return out if isinstance(out, dict) else None


def _write_params(field_manager: str | None, dry_run: bool = False) -> dict[str, str]:
    params: dict[str, str] = {}
    if field_manager:
        params["fieldManager"] = field_manager
    if dry_run:
        params["dryRun"] = "All"
    return params


def _error(code: int, raw: bytes) -> errors.ApiError:
    try:
        status = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        status = {}
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = raw.decode(errors="replace")[:500] if raw else f"HTTP {code}"
        status = {"kind": "Status", "status": "Failure", "message": text, "code": code}
    return errors.from_status(status, code)


async def connect(kubeconfig: str | None = None, context: str | None = None, **kw: Any) -> Client:
    """A :class:`Client` for the configuration :func:`config.load` finds."""
    loop_cfg = await asyncio.to_thread(config_mod.load, kubeconfig, context)
    return Client(loop_cfg, **kw)
