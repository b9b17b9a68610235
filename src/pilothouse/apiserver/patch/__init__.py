"""The three PATCH formats kube-apiserver accepts besides server-side apply.

* :mod:`.jsonpatch` -- RFC 6902 JSON Patch (``application/json-patch+json``) with the
  semantics of ``gopkg.in/evanphx/json-patch.v4`` that kube-apiserver vendors, including its
  leniencies (negative array indices, ``replace`` of a missing object member), and the
  kube-apiserver error mapping (400 for a malformed document, 413 past 10,000 operations,
  a generic 422 ``Invalid`` for an operation that does not apply). It also hosts the small
  JSON-value helpers (:func:`~.jsonpatch.json_equal`, :func:`~.jsonpatch.deep_copy`,
  nesting-depth guards) the other two modules share.
* :mod:`.mergepatch` -- RFC 7386 JSON merge patch (``application/merge-patch+json``) as
  evanphx ``MergePatch`` applies it, plus :func:`~.mergepatch.create` for two-way patches.
* :mod:`.strategic` -- strategic merge patch (``application/strategic-merge-patch+json``)
  for built-in kinds, driven by the ``x-kubernetes-patch-strategy``/``-merge-key``
  extensions of :class:`~pilothouse.apiserver.schemas.SchemaNode`, with every directive
  (``$patch``, ``$retainKeys``, ``$deleteFromPrimitiveList/``, ``$setElementOrder/``).
* :mod:`.strategic_diff` -- :func:`~.strategic_diff.create_two_way`, the two-way strategic
  merge patches kubectl computes.

All appliers are pure: they never mutate their arguments and return a fresh document that
shares no containers with them, so callers may edit the result freely.
"""
