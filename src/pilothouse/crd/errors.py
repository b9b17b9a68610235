"""The exceptions of :mod:`pilothouse.crd`.

Both derive from :class:`ValueError`, so code that already guards against bad input keeps
working. They are raised as early as possible: a bad group, kind or printer column when the
class statement runs, a schema kube would reject when the CRD is generated -- never later,
on a cluster.
"""

from __future__ import annotations

__all__ = ["CRDError", "SchemaError"]


class CRDError(ValueError):
    """A custom resource declaration Kubernetes would reject (names, versions, columns...)."""


class SchemaError(CRDError):
    """A model whose schema cannot be expressed as a Kubernetes structural schema.

    ``path`` is where in the object the problem sits, in kubectl's JSONPath-like notation
    (``.spec.backends[*].port``), and ``model`` the class the schema was generated for.
    """

    def __init__(self, model: str, path: str, problem: str) -> None:
        self.model, self.path, self.problem = model, path, problem
        where = f"{model}: {path or '<root>'}"
        super().__init__(f"{where}: {problem}")
