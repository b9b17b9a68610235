"""Watch streams over HTTP: newline-delimited JSON events on a chunked response.

Where a watch starts:

* ``resourceVersion`` unset or ``"0"``, or ``sendInitialEvents=true``: synthetic ``ADDED``
  events for every current object, then live events. With ``sendInitialEvents`` the initial
  burst ends with a ``BOOKMARK`` annotated ``k8s.io/initial-events-end: "true"``.
* ``resourceVersion=N``: every event after N. If N is older than the retained history the
  stream carries a single ``ERROR`` event whose object is a ``Status`` with code 410, which is
  how client-go learns to relist. After a server restart, N older than the process is served
  from the durable store (see :meth:`Store.catch_up`).

With ``allowWatchBookmarks`` the stream also carries periodic ``BOOKMARK`` events so a client
can resume from a recent resourceVersion even when nothing it watches has changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from pilothouse.apiserver import conversion, errors, resources, state
from pilothouse.apiserver.rest import negotiation, reads
from pilothouse.apiserver.store import records, watch

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 1800.0
_LIVENESS_CHECK = 5.0
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def _bool(query: Mapping[str, str], key: str) -> bool:
    return query.get(key, "").lower() in ("true", "1")


def _bookmark(rt: resources.ResourceType, rv: int, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
    return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


def _error_line(exc: errors.ApiError) -> bytes:
    return orjson.dumps({"type": "ERROR", "object": exc.status()}) + b"\n"


Converter = Callable[[list[bytes]], Awaitable[list[bytes]]]


def _converter(
    st: state.ServerState,
    rt: resources.ResourceType,
    output: negotiation.Output,
    query: Mapping[str, str],
) -> Converter | None:
    """Re-encodes a batch of event lines for another version (one conversion review for the
    batch) or for Table / metadata-only watches; None: send them as stored."""
    if output == "object" and conversion.identity(rt):
        return None
    from pilothouse.apiserver import tables

    include = query.get("includeObject", "Metadata")

    async def convert(lines: list[bytes]) -> list[bytes]:
        events = [orjson.loads(line) for line in lines]
        objs = [ev["object"] for ev in events if ev["type"] not in ("BOOKMARK", "ERROR")]
        converted = iter(await conversion.out_list_async(rt, objs))
        out: list[bytes] = []
        for line, ev in zip(lines, events, strict=True):
            if ev["type"] in ("BOOKMARK", "ERROR"):
                out.append(line)
                continue
            obj = next(converted)
            if output == "table":
                ev["object"] = tables.to_table(rt, [obj], include_object=include, now=st.clock())
            elif output == "partial":
                ev["object"] = negotiation.partial(obj)
            elif obj is ev["object"]:
                out.append(line)  # already in the version asked for
                continue
            else:
                ev["object"] = obj
            out.append(orjson.dumps(ev) + b"\n")
        return out

    return convert


async def serve(
    request: web.Request,
    st: state.ServerState,
    rt: resources.ResourceType,
    namespace: str,
    output: negotiation.Output,
    content_type: str,
) -> web.StreamResponse:
    query = request.query
    match = reads.matcher(rt, namespace, query)
    timeout = DEFAULT_TIMEOUT
    if query.get("timeoutSeconds"):
        try:
            timeout = float(int(query["timeoutSeconds"]))
        except ValueError:
            raise errors.bad_request(
                f"invalid timeoutSeconds: {query['timeoutSeconds']!r}"
            ) from None
    bookmarks = _bool(query, "allowWatchBookmarks")
    send_initial = _bool(query, "sendInitialEvents")
    rv_s = query.get("resourceVersion", "")
    if send_initial:
        if query.get("resourceVersionMatch") != "NotOlderThan":
            raise errors.ApiError(
                422,
                "Invalid",
                'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
                "sendInitialEvents is forbidden for watch unless resourceVersionMatch is set "
                "to NotOlderThan",
            )
        if not bookmarks:
            raise errors.ApiError(
                422,
                "Invalid",
                'ListOptions.meta.k8s.io "" is invalid: allowWatchBookmarks: Forbidden: '
                "allowWatchBookmarks must be set to true when sendInitialEvents is set",
            )
    elif query.get("resourceVersionMatch"):
        raise errors.ApiError(
            422,
            "Invalid",
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        )
    convert = _converter(st, rt, output, query)
    initial: list[bytes] = []
    watcher: watch.Watcher | None = None
    error: errors.ApiError | None = None
    if send_initial or rv_s in ("", "0"):
        if rv_s not in ("", "0") and reads.parse_rv(rv_s) > st.store.revision:
            raise reads.too_large_rv(st, reads.parse_rv(rv_s))
        recs = reads.snapshot(st, rt, namespace, match)
        initial = [records.Event(records.ADDED, r, None).wire() for r in recs]
        # Snapshot and subscription happen in one synchronous step: no event can fall between.
        watcher = st.store.hub.subscribe(rt.storage_key, match, st.store.revision, replay=False)
        if send_initial:
            initial.append(_bookmark(rt, st.store.revision, initial_end=True))
    else:
        from_rv = reads.parse_rv(rv_s)
        try:
            watcher = st.store.hub.subscribe(rt.storage_key, match, from_rv)
        except watch.Expired as exc:
            caught_up = st.store.catch_up(rt.storage_key, from_rv)
            if caught_up is None:
                error = errors.gone(f"too old resource version: {exc.requested} ({exc.oldest})")
            else:
                watcher = st.store.hub.subscribe(rt.storage_key, match, from_rv, replay=False)
                for event in caught_up:
                    watcher.offer(event)

    resp = web.StreamResponse(
        status=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache, private"}
    )
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    if error is not None:
        await resp.write(_error_line(error))
        await resp.write_eof()
        return resp
    assert watcher is not None
    interval = st.bookmark_interval
    deadline = time.monotonic() + timeout
    next_bookmark = time.monotonic() + interval
    try:
        if initial:
            if convert is not None:
                initial = await convert(initial)
            await resp.write(b"".join(initial))
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            wait_for = min(deadline, next_bookmark if bookmarks else deadline) - now
            # aiohttp does not cancel a handler whose client left; look every few seconds
            # so an idle watch of a departed client does not stay subscribed for its timeout.
            await watcher.wait(min(max(wait_for, 0.0), _LIVENESS_CHECK))
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            lines = watcher.drain()
            if lines:
                if convert is not None:
                    lines = await convert(lines)
                await resp.write(b"".join(lines))
            if watcher.closed and not watcher.queue:
                break
            if bookmarks and time.monotonic() >= next_bookmark:
                await resp.write(_bookmark(rt, watcher.last_rv))
                next_bookmark = time.monotonic() + interval
        await resp.write_eof()
    except errors.ApiError as exc:
        # A conversion failed: the client learns why from an ERROR event (as from kube's
        # watch of an object it cannot decode) and the stream ends, so it relists rather
        # than silently missing the event.
        log.info("watch of %s ended: %s", rt.group_resource, exc.message)
        try:
            await resp.write(_error_line(exc))
            await resp.write_eof()
        except ConnectionResetError:
            log.debug("watch client of %s disconnected", rt.group_resource)
    except ConnectionResetError:
        # The client went away (or the server is closing the connection): nothing to tell.
        log.debug("watch client of %s disconnected", rt.group_resource)
    finally:
        watcher.close()
    return resp
