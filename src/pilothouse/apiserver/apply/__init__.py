"""Server-side apply and ``managedFields`` tracking, matching kube-apiserver 1.32.

Modules, from the bottom up:

* :mod:`~pilothouse.apiserver.apply.fieldpath` -- path elements, :class:`FieldSet` with its
  set algebra, and the ``fieldsV1`` wire format.
* :mod:`~pilothouse.apiserver.apply.typed` -- :class:`TypeView` (how SSA reads a schema:
  granular/atomic maps, ``atomic``/``set``/``map`` lists, deduced types for unknown
  content) and :func:`fields_of`, the fields an object sets.
* :mod:`~pilothouse.apiserver.apply.compare` -- :func:`compare`, the fields added, modified
  and removed between two objects.
* :mod:`~pilothouse.apiserver.apply.merge` -- :func:`merge` of an applied configuration into
  an object and :func:`remove_items` of owned fields.
* :mod:`~pilothouse.apiserver.apply.entries` -- ``managedFields`` entries: manager
  identities, decode, encode, strip, cap.
* :mod:`~pilothouse.apiserver.apply.ownership` -- ownership transfer for a write and
  :class:`OwnershipConflict`.
* :mod:`~pilothouse.apiserver.apply.managed` -- :func:`record_update` for
  create/update/patch, :func:`reset_fields_for` and :func:`default_manager` for writes
  without ``fieldManager``.
* :mod:`~pilothouse.apiserver.apply.apply` -- :func:`server_side_apply`: request checks,
  merge, prune, conflicts (:class:`ApplyConflict`, 409) and the kubectl last-applied
  upgrade path.

The split follows structured-merge-diff (``fieldpath``, ``typed``, ``merge``) and the
apiserver field manager so each piece can be checked against its Go counterpart.
"""
