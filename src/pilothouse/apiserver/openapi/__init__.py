"""OpenAPI documents: ``/openapi/v2`` (Swagger 2.0, JSON or gnostic protobuf) and
``/openapi/v3`` (an index plus one OpenAPI 3.0 document per group version).

What kubectl / client-go 1.32 fetch, hence what has to be right (verified against the
kubectl 1.32 binary: explain in both formats, client-side apply, ``--validate=strict``):

* ``/openapi/v2`` is only ever requested as protobuf: ``DiscoveryClient.OpenAPISchema`` sends
  ``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and
  ``proto.Unmarshal``-s the body into gnostic's ``openapi_v2.Document``; there is no JSON
  fallback. The response must declare ``...spec.v2.v1.0+protobuf``: Go's Content-Type parser
  rejects the ``@`` spelling ("mime: unexpected content after media subtype"). Hence
  :func:`v2_protobuf`, a table-driven encoder of that message (no protobuf dependency).
  Vendor extensions, ``default``, ``enum`` and ``example`` are gnostic ``Any`` messages whose
  ``yaml`` field holds the value; kube-openapi decodes them as YAML, so JSON text goes there.
  kubectl 1.32 falls back to v2 for ``apply`` when v3 yields no strategic merge patch
  (always for CRDs), for ``--validate`` when v3 cannot tell whether ``fieldValidation`` is
  supported (it then validates client-side against v2), and for ``explain --output
  plaintext-openapiv2``. kube-openapi's model parser rejects the whole document if one
  definition has several types, an array lacks ``items`` or a ``$ref`` dangles.
* ``/openapi/v3`` is JSON only (client-go's ``openapi3.Root`` and ``kubectl explain`` ask for
  ``application/json``): ``{"paths": {"apis/apps/v1": {"serverRelativeURL":
  "/openapi/v3/apis/apps/v1?hash=<HASH>"}}}``, looked up by ``api/v1`` /
  ``apis/<group>/<version>``. The hash is the uppercase sha512 of the document body and its
  ETag; kube-openapi answers a stale ``?hash=`` with a redirect to the current URL.
* ``kubectl explain`` finds the kind via a get/post/put/patch/delete operation carrying
  ``x-kubernetes-group-version-kind`` (an object) on ``<prefix>/<plural>``,
  ``<prefix>/namespaces/{namespace}/<plural>`` or their ``/{name}`` forms, then the
  ``components.schemas`` entry whose GVK list contains exactly that ``{group,kind,version}``;
  it follows ``#/components/schemas/`` refs and ``allOf`` wrappers.
* client-side ``kubectl apply`` computes a strategic merge patch from v3 when the kind's
  PATCH operation accepts ``application/strategic-merge-patch+json``, reading the patch
  strategy / merge key from the *property* schema (beside the ``allOf: [{$ref}]`` wrapper).
* ``--validate=strict|warn`` leaves validation to the server when the kind's PATCH operation
  lists ``fieldValidation`` among its own ``parameters`` (v3 names are not resolved through
  ``$ref``, so parameters are inlined everywhere).

The package: :mod:`.definitions` converts built-in definitions and publishes CRD kinds
(JSON-schema form to v2/v3, the CRD builder's treatment), :mod:`.paths` models every
operation once (:class:`~.paths.Operation`, :class:`~.paths.PathItem`) and renders it to both
versions, :mod:`.protobuf` encodes v2 for gnostic, :mod:`.negotiation` picks the media type;
this module assembles and caches the documents.

Design: a document lists only the definitions its paths reach. Documents are built lazily
and memoised, keyed by the served types *and* the CRD schemas' content (``ResourceType``
equality ignores ``crd_version``), in a small LRU; :func:`invalidate` drops everything.
Returned documents are shared and must not be mutated.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import orjson

from pilothouse.apiserver import resources, schemas
from pilothouse.apiserver.openapi.definitions import closure, definitions, kind_def, plain
from pilothouse.apiserver.openapi.negotiation import (
    JSON,
    V2_PROTOBUF,
    V2_PROTOBUF_REQUESTED,
    negotiate_openapi,
)
from pilothouse.apiserver.openapi.paths import PathItem, all_paths, render_paths
from pilothouse.apiserver.openapi.protobuf import v2_protobuf

__all__ = [
    "JSON",
    "V2_PROTOBUF",
    "invalidate",
    "negotiate_openapi",
    "v2_document",
    "v2_protobuf",
    "v2_serialized",
    "v3_document",
    "v3_index",
    "v3_serialized",
]


_INFO = {"title": "Kubernetes", "version": f"v{schemas.KUBE_VERSION}"}
_BEARER = {"type": "apiKey", "name": "authorization", "in": "header"}


def _hash(body: bytes) -> str:
    return hashlib.sha512(body).hexdigest().upper()


class _Built:
    """Everything derived from one set of served types, each part built on first use."""

    def __init__(self, types: Sequence[resources.ResourceType]) -> None:
        self.types = tuple(types)
        self.paths = all_paths(self.types)
        self._v2: dict[str, Any] | None = None
        self._v2_bytes: dict[str, tuple[bytes, str]] = {}
        self._v3: dict[str, tuple[dict[str, Any], bytes, str]] | None = None

    def v2(self) -> dict[str, Any]:
        if self._v2 is None:
            paths, roots = render_paths(self.paths, v3=False)
            roots.update(n for rt in self.types for n in (kind_def(rt), kind_def(rt, "List")) if n)
            self._v2 = {
                "swagger": "2.0",
                "info": dict(_INFO),
                "paths": paths,
                "definitions": closure(roots, definitions(self.types, v3=False)),
                "securityDefinitions": {"BearerToken": dict(_BEARER)},
                "security": [{"BearerToken": []}],
            }
        return self._v2

    def v2_bytes(self, content_type: str) -> tuple[bytes, str]:
        if content_type not in self._v2_bytes:
            doc = self.v2()
            body = v2_protobuf(doc) if content_type == V2_PROTOBUF else orjson.dumps(doc)
            self._v2_bytes[content_type] = (body, _hash(body))
        return self._v2_bytes[content_type]

    def v3(self) -> dict[str, tuple[dict[str, Any], bytes, str]]:
        """``{document path: (document, JSON body, hash)}``."""
        if self._v3 is None:
            defs = definitions(self.types, v3=True)
            by_doc: dict[str, list[PathItem]] = collections.defaultdict(list)
            for p in self.paths:
                by_doc[p.doc].append(p)
            self._v3 = {}
            for name in sorted(by_doc):
                paths, roots = render_paths(by_doc[name], v3=True)
                components = {"schemas": closure(roots, defs),
                              "securitySchemes": {"BearerToken": dict(_BEARER)}}  # fmt: skip
                doc = {"openapi": "3.0.0", "info": dict(_INFO), "paths": paths,
                       "components": components, "security": [{"BearerToken": []}]}  # fmt: skip
                body = orjson.dumps(doc)
                self._v3[name] = (doc, body, _hash(body))
        return self._v3


_CACHE: collections.OrderedDict[Hashable, _Built] = collections.OrderedDict()
_CACHE_SIZE = 4


def _built(types: Sequence[resources.ResourceType]) -> _Built:
    # ResourceType equality ignores crd_version, so the CRD schemas' content joins the key.
    def fingerprint(version: Mapping[str, Any] | None) -> str | None:
        if version is None:
            return None
        data = orjson.dumps(version, option=orjson.OPT_SORT_KEYS, default=plain)
        return hashlib.sha256(data).hexdigest()

    key = tuple((rt, fingerprint(rt.crd_version)) for rt in types)
    built = _CACHE.get(key)
    if built is None:
        built = _CACHE[key] = _Built(types)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return built


def invalidate() -> None:
    """Forget every cached document (documents are also keyed by the served types)."""
    _CACHE.clear()


def v2_document(types: Sequence[resources.ResourceType]) -> dict[str, Any]:
    """The Swagger 2.0 document served at ``/openapi/v2``."""
    return _built(types).v2()


def v2_serialized(
    types: Sequence[resources.ResourceType], content_type: str = JSON
) -> tuple[bytes, str]:
    """``(body, etag)`` of ``/openapi/v2`` as JSON or :data:`V2_PROTOBUF`; the ETag is the
    unquoted uppercase sha512 hex of the body."""
    protobuf = content_type in V2_PROTOBUF_REQUESTED
    return _built(types).v2_bytes(V2_PROTOBUF if protobuf else JSON)


def v3_index(types: Sequence[resources.ResourceType]) -> dict[str, Any]:
    """``/openapi/v3``: each document's path and hash-pinned URL."""
    docs = _built(types).v3()
    return {"paths": {n: {"serverRelativeURL": f"/openapi/v3/{n}?hash={h}"}
                      for n, (_, _, h) in docs.items()}}  # fmt: skip


def v3_document(types: Sequence[resources.ResourceType], gv_path: str) -> dict[str, Any] | None:
    """``/openapi/v3/<gv_path>`` (``api/v1``, ``apis/apps/v1``, ``apis/apps``...), or None."""
    entry = _built(types).v3().get(gv_path.strip("/"))
    return entry[0] if entry else None


def v3_serialized(
    types: Sequence[resources.ResourceType], gv_path: str
) -> tuple[bytes, str] | None:
    """``(JSON body, hash)`` of a v3 document; the hash is the index's ``?hash=`` value and,
    quoted, the ETag. Serve ``Cache-Control: public, immutable`` when the request's hash
    matches, and redirect to the current URL when it does not, as kube-openapi does."""
    entry = _built(types).v3().get(gv_path.strip("/"))
    return (entry[1], entry[2]) if entry else None
