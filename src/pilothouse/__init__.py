"""Pilothouse: write and run Kubernetes operators in Python.

Where to look next:

* :mod:`pilothouse.api` -- the object model shared by every layer: label and field
  selectors, name validation, JSONPath. No I/O.
* :mod:`pilothouse.apiserver` -- the embedded, durable, Kubernetes-API-compatible server
  (``pilothouse cluster up``) that tests and ``make up`` run on.
* :mod:`pilothouse.cli` -- the ``pilothouse`` command.
* :mod:`pilothouse.pki` and :mod:`pilothouse.ports` -- small helpers every layer may use:
  certificates, and free TCP ports on 127.0.0.1.
"""

__version__ = "0.1.0"
