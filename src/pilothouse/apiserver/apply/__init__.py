"""Server-side apply and ``managedFields`` tracking, matching kube-apiserver 1.32.

Modules:

* :mod:`~pilothouse.apiserver.apply.fieldpath` -- path elements, :class:`FieldSet` with its
  set algebra, the ``fieldsV1`` wire format, :class:`TypeView` (how SSA reads a schema:
  granular/atomic maps, ``atomic``/``set``/``map`` lists, deduced types for unknown content)
  and :func:`fields_of`, the fields an object sets.
* :mod:`~pilothouse.apiserver.apply.managed` -- ``managedFields`` entries (decode, encode,
  strip, cap), object comparison, ownership transfer, :func:`record_update` for
  create/update/patch and :func:`default_manager` for writes without ``fieldManager``.
* :mod:`~pilothouse.apiserver.apply.apply` -- :func:`server_side_apply`: merge, prune,
  conflicts (:class:`ApplyConflict`, 409) and the kubectl last-applied upgrade path.

The split follows structured-merge-diff (``fieldpath``, ``typed``, ``merge``) and the
apiserver field manager so each piece can be checked against its Go counterpart.
"""
