"""RFC 6902 JSON Patch *generation*: the operations that turn one JSON document into another.

A mutating webhook's handler returns the object it wants; the API server wants a JSON Patch
against the object it sent. :func:`diff` computes that patch.

Guarantees:

* applying ``diff(a, b)`` to ``a`` with a strict RFC 6902 implementation yields ``b``
  (property-tested with hypothesis);
* ``diff(a, a) == []``: an unchanged object produces no patch, so a webhook that changes
  nothing answers without ``patchType``;
* only ``add``, ``remove`` and ``replace`` are emitted, so every operation is understood by
  every JSON Patch library (no ``move``/``copy`` that some appliers get wrong);
* reference tokens are escaped as RFC 6901 requires (``~`` → ``~0``, ``/`` → ``~1``).

Design choices:

* Objects are compared member by member, so a patch only touches what changed (a webhook
  adding one label does not replace ``metadata``).
* Arrays: the common prefix and suffix are kept as they are; the differing middle is
  patched element by element, and the surplus removed (from the highest index down, so
  earlier indices stay valid) or the shortfall inserted (in ascending order). Inserting or
  deleting elements at the start or end of an array -- the common case (an extra container,
  a new toleration) -- therefore yields a single ``add``/``remove``. It is not a
  longest-common-subsequence diff: a reordering produces ``replace`` operations. Smaller
  patches are possible, never incorrect ones.
* Equality is JSON equality, not Python's: ``True`` differs from ``1`` and ``1`` from
  ``1.0`` (they serialise differently), so such a change is patched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Operation = dict[str, Any]


def escape(token: str) -> str:
    """One RFC 6901 reference token: ``~`` → ``~0`` then ``/`` → ``~1``."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """The inverse of :func:`escape` (``~1`` → ``/`` then ``~0`` → ``~``)."""
    return token.replace("~1", "/").replace("~0", "~")


def pointer(tokens: Iterable[str | int]) -> str:
    """An RFC 6901 JSON pointer from unescaped tokens; ``""`` is the whole document."""
    return "".join("/" + escape(str(t)) for t in tokens)


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values as their encodings would compare (``True`` != ``1``)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def diff(original: Any, mutated: Any) -> list[Operation]:
    """The JSON Patch that turns ``original`` into ``mutated`` (neither is modified).

    The values in the returned operations are the mutated document's own objects, not
    copies: serialise the patch before changing ``mutated`` further.
    """
    ops: list[Operation] = []
    _diff(original, mutated, "", ops)
    return ops


def _diff(a: Any, b: Any, path: str, ops: list[Operation]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        _diff_objects(a, b, path, ops)
    elif isinstance(a, list) and isinstance(b, list):
        _diff_arrays(a, b, path, ops)
    elif not json_equal(a, b):
        ops.append({"op": "replace", "path": path, "value": b})


def _diff_objects(
    a: Mapping[str, Any], b: Mapping[str, Any], path: str, ops: list[Operation]
) -> None:
    for key in a:
        if key not in b:
            ops.append({"op": "remove", "path": f"{path}/{escape(key)}"})
    for key, value in b.items():
        child = f"{path}/{escape(key)}"
        if key in a:
            _diff(a[key], value, child, ops)
        else:
            ops.append({"op": "add", "path": child, "value": value})


def _diff_arrays(a: Sequence[Any], b: Sequence[Any], path: str, ops: list[Operation]) -> None:
    shortest = min(len(a), len(b))
    prefix = 0
    while prefix < shortest and json_equal(a[prefix], b[prefix]):
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and json_equal(a[-1 - suffix], b[-1 - suffix]):
        suffix += 1
    old = a[prefix : len(a) - suffix]
    new = b[prefix : len(b) - suffix]
    common = min(len(old), len(new))
    for i in range(common):
        _diff(old[i], new[i], f"{path}/{prefix + i}", ops)
    # Surplus: remove from the highest index down so the lower indices stay valid.
    for i in range(len(old) - 1, common - 1, -1):
        ops.append({"op": "remove", "path": f"{path}/{prefix + i}"})
    # Shortfall: insert in ascending order; each insertion shifts the kept suffix right.
    for i in range(common, len(new)):
        ops.append({"op": "add", "path": f"{path}/{prefix + i}", "value": new[i]})
