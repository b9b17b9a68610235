"""The REST verbs of the API server, one module per concern, mirroring kube-apiserver's
``endpoints/handlers`` and ``registry/generic`` packages:

* :mod:`~.options` -- query parameters and ``DeleteOptions``.
* :mod:`~.objectmeta` -- what the server owns in ``metadata`` (uid, timestamps, generation,
  generateName, finalizer rules) and metadata validation.
* :mod:`~.writes` -- the create/update pipeline shared by POST, PUT, PATCH and apply:
  defaulting, pruning, admission, validation, managed fields, storage.
* :mod:`~.patching` -- PATCH in its four content types.
* :mod:`~.deletion` -- DELETE, deletecollection, finalizers and propagation policies.
* :mod:`~.reads` -- GET and LIST (pagination, selectors, Table output).
* :mod:`~.watching` -- watch streams.
* :mod:`~.subresources` -- status, scale, binding, eviction, finalize and the review kinds.
"""
