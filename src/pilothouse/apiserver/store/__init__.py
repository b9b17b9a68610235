"""Object storage for the embedded API server: the etcd of Pilothouse.

* :mod:`~pilothouse.apiserver.store.records` -- :class:`Record` (one stored object, kept as
  its encoded JSON bytes) and :class:`Event` (one change).
* :mod:`~pilothouse.apiserver.store.backend` -- durability: SQLite (group commit, tombstones
  for watch resumption after restart) or memory only.
* :mod:`~pilothouse.apiserver.store.store` -- :class:`Store`: the in-memory state, the single
  global ``resourceVersion`` counter, compare-and-swap writes and the commit pipeline.
* :mod:`~pilothouse.apiserver.store.watch` -- watch fan-out with a retained history window.
"""
