"""GET and LIST: selectors, pagination, resourceVersion semantics and representations.

LIST is served from memory at the current revision. Its fast path never decodes objects: the
stored JSON bytes of the matching records are joined into the response body. Pagination
(``limit``/``continue``) walks objects in (namespace, name) order; the continue token carries
the revision of the first page, which every page reports as its ``resourceVersion`` so that a
client watching from it afterwards misses nothing (it may see a change twice, which
level-triggered clients tolerate).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from pilothouse.api import fields as api_fields
from pilothouse.api import labels as api_labels
from pilothouse.apiserver import conversion, errors, fieldselectors, resources, state
from pilothouse.apiserver.store import records


def record_fields(rt: resources.ResourceType, rec: records.Record) -> Mapping[str, str]:
    if rec.fields is not None:
        return rec.fields
    if rt.is_custom:
        paths = selectable_paths(rt)
        if paths:
            return fieldselectors.crd_field_set(rec.obj(), paths)
    return {"metadata.name": rec.name, "metadata.namespace": rec.namespace}


def matcher(
    rt: resources.ResourceType, namespace: str, query: Mapping[str, str]
) -> Callable[[records.Record], bool]:
    """The filter of a list or watch: namespace, ``labelSelector``, ``fieldSelector``."""
    try:
        lsel = api_labels.parse(query.get("labelSelector", ""))
    except api_labels.SelectorError as exc:
        raise errors.bad_request(str(exc)) from None
    try:
        fsel = api_fields.parse(query.get("fieldSelector", "")).transform(field_labels(rt).convert)
    except (api_fields.FieldSelectorError, fieldselectors.FieldLabelError) as exc:
        raise errors.bad_request(str(exc)) from None
    ns = namespace if rt.namespaced else ""
    l_empty = lsel.empty
    f_empty = fsel.empty

    def match(rec: records.Record) -> bool:
        if ns and rec.namespace != ns:
            return False
        if not l_empty and not lsel.matches(rec.labels):
            return False
        return f_empty or fsel.matches(record_fields(rt, rec))

    return match


def selectable_paths(rt: resources.ResourceType) -> list[str]:
    """The ``selectableFields`` JSON paths of a custom resource version."""
    selectable = (rt.crd_version or {}).get("selectableFields") or []
    return [str(s.get("jsonPath", "")) for s in selectable if isinstance(s, Mapping)]


def field_labels(rt: resources.ResourceType) -> fieldselectors.FieldLabels:
    if rt.is_custom:
        return fieldselectors.crd_field_labels(selectable_paths(rt), namespaced=rt.namespaced)
    return fieldselectors.field_labels(rt.group_resource)


def encode_continue(rv: int, last_ns: str, last_name: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": [last_ns, last_name]})
    return base64.urlsafe_b64encode(raw).decode()


def decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        rv = int(data["rv"])
        ns, name = data["start"]
        return rv, (str(ns), str(name))
    except Exception:
        raise errors.bad_request("continue key is not valid: invalid continue token") from None


def parse_limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit", "")
    if not raw:
        return 0
    try:
        limit = int(raw)
    except ValueError:
        raise errors.bad_request(f"invalid limit: {raw!r}") from None
    return max(limit, 0)


def check_list_rv(st: state.ServerState, query: Mapping[str, str]) -> None:
    """``resourceVersion``/``resourceVersionMatch`` semantics we can honour from memory."""
    rv_s = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")
    if match and match not in ("Exact", "NotOlderThan"):
        raise errors.bad_request(f'resourceVersionMatch: Unsupported value: "{match}"')
    if match and not rv_s:
        raise errors.bad_request(
            "resourceVersionMatch is forbidden unless resourceVersion is provided"
        )
    if not rv_s:
        return
    rv = parse_rv(rv_s)
    if rv > st.store.revision:
        raise too_large_rv(st, rv)
    if match == "Exact" and rv != st.store.revision and rv != 0:
        raise errors.gone(f"too old resource version: {rv} ({st.store.revision})")


def parse_rv(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f"invalid resourceVersion: {text!r}") from None


def too_large_rv(st: state.ServerState, rv: int) -> errors.ApiError:
    """kube waits briefly for its cache to catch up with a future resourceVersion, then
    answers 504; this store never lags, so it answers at once."""
    return errors.ApiError(
        504,
        "Timeout",
        f"Too large resource version: {rv}, current: {st.store.revision}",
        {
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
    )


def snapshot(
    st: state.ServerState,
    rt: resources.ResourceType,
    namespace: str,
    match: Callable[[records.Record], bool],
) -> list[records.Record]:
    """The matching records, in (namespace, name) order."""
    ns = namespace if rt.namespaced and namespace else None
    recs = [r for r in st.store.iter(rt.storage_key, ns) if match(r)]
    recs.sort(key=lambda r: (r.namespace, r.name))
    return recs


def select(
    st: state.ServerState,
    rt: resources.ResourceType,
    namespace: str,
    query: Mapping[str, str],
) -> tuple[list[records.Record], dict[str, Any]]:
    """The records of one LIST page and the list metadata."""
    check_list_rv(st, query)
    match = matcher(rt, namespace, query)
    limit = parse_limit(query)
    token = query.get("continue", "")
    list_rv = st.store.revision
    start: tuple[str, str] | None = None
    if token:
        list_rv, start = decode_continue(token)
    recs = snapshot(st, rt, namespace, match)
    if start is not None:
        lo, hi = 0, len(recs)
        while lo < hi:
            mid = (lo + hi) // 2
            if (recs[mid].namespace, recs[mid].name) <= start:
                lo = mid + 1
            else:
                hi = mid
        recs = recs[lo:]
    meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
    if limit and len(recs) > limit:
        remaining = len(recs) - limit
        recs = recs[:limit]
        last = recs[-1]
        meta["continue"] = encode_continue(list_rv, last.namespace, last.name)
        meta["remainingItemCount"] = remaining
    return recs, meta


async def list_body(
    rt: resources.ResourceType, recs: list[records.Record], meta: Mapping[str, Any]
) -> bytes:
    """The encoded list of one page; through a conversion webhook, one review for the page."""
    head = orjson.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta})
    if conversion.identity(rt):
        items = b",".join([r.raw for r in recs])
    else:
        items = b",".join(await conversion.raw_out_list_async(rt, [r.raw for r in recs]))
    # Splice the items array into the encoded envelope without re-encoding the objects.
    return head[:-1] + b',"items":[' + items + b"]}"
