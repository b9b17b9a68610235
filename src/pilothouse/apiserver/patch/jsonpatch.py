"""RFC 6902 JSON Patch, applied the way kube-apiserver applies ``application/json-patch+json``.

kube-apiserver decodes the body with ``gopkg.in/evanphx/json-patch.v4`` and applies it to
the JSON encoding of the stored object. This module reproduces that library's observable
behaviour rather than the letter of the RFC where the two differ, so that a patch which
works against a real cluster works here too:

* negative array indices count from the end (``/a/-1`` is the last element; for ``add``,
  ``-1`` appends), and indices may carry a sign or leading zeros (``strconv.Atoi`` rules);
* ``replace`` of a missing *object member* adds it (the library only checks array bounds);
* a missing object member reads as ``null``: ``test`` with ``"value": null`` against it
  passes, ``copy`` from it copies ``null``; an absent ``value`` member means ``null``;
* the root pointer ``""`` works for ``replace`` (object or array value) and ``test`` only;
* invalid ``~`` escapes are left as they are (``~0``/``~1`` are decoded left to right).

One deliberate deviation: a pointer that does not start with ``/`` is "missing path" here,
whereas the library silently drops its first segment (``a/b`` acts as ``/b``).

Errors map to what the handler (``endpoints/handlers/patch.go``) answers: a body that is not
an array of objects is a 400 ``BadRequest`` carrying Go's decode error; more than
:data:`MAX_OPERATIONS` operations is a 413; any operation that fails to apply is the generic
422 ``Invalid`` built by ``NewGenericServerResponse``, whose message does *not* say what went
wrong. The precise reason is attached as the error's ``__cause__`` (a :class:`PatchError`)
for logs and tests. Copies are limited to :data:`MAX_COPY_BYTES` in total, as the apiserver
configures the library, and nesting to :data:`MAX_DEPTH` so the recursive helpers here and
in the sibling modules stay far from Python's recursion limit.

The document is deep-copied once up front and then edited in place: structural sharing
would be cheaper, but callers routinely stamp fields such as ``resourceVersion`` into the
result, and that must never leak into the stored original.

The JSON-value helpers at the top (:func:`json_equal` -- the RFC's notion of equality used by
``test`` --, :func:`deep_copy`, :func:`nesting_depth`) also serve the sibling modules.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from pilothouse.apiserver.errors import ApiError, bad_request, too_large

#: kube-apiserver's ``maxJSONPatchOperations``.
MAX_OPERATIONS = 10000
#: kube-apiserver's default ``JSONPatchMaxCopyBytes`` (``AccumulatedCopySizeLimit``).
MAX_COPY_BYTES = 3 * 1024 * 1024
#: Deepest container nesting a patch may contain or create; orjson cannot encode beyond 254.
MAX_DEPTH = 200

#: The message ``NewGenericServerResponse`` uses for every 422.
INVALID_MESSAGE = "the server rejected our request due to an error in our request"

_INDEX = re.compile(r"[+-]?[0-9]+")
_ESCAPE = re.compile(r"~[01]")
_INT64 = 2**63


class PatchError(Exception):
    """Why a patch did not apply, in the library's words; the ``__cause__`` of the 422."""


def unprocessable(detail: str) -> ApiError:
    """The generic 422 kube-apiserver answers when a patch fails to apply; ``detail`` is
    kept as the exception's cause only, exactly as the real server drops it."""
    err = ApiError(422, "Invalid", INVALID_MESSAGE)
    err.__cause__ = PatchError(detail)
    err.__suppress_context__ = True
    return err


# -- JSON value helpers shared by the three patch formats ---------------------------------


def deep_copy(value: Any) -> Any:
    """A copy of a JSON value sharing no containers with it (cheaper than copy.deepcopy,
    which keeps a memo we never need for acyclic JSON)."""
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality (RFC 6902 section 4.6): numbers by value, but unlike Python ``==``
    ``true`` is not ``1`` and ``null`` equals only ``null``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float):
        return isinstance(b, int | float) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and len(a) == len(b)
            and all(k in b and json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(json_equal, a, b))
    return type(a) is type(b) and bool(a == b)


def nesting_depth(value: Any) -> int:
    """How many containers deep ``value`` goes (a scalar is 0, ``{}`` is 1); iterative so
    that it is itself safe on hostile input."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_patch_depth(patch: Any) -> None:
    """Reject (400) a merge or strategic patch nested deeper than :data:`MAX_DEPTH`."""
    if nesting_depth(patch) > MAX_DEPTH:
        raise bad_request(f"patch is nested more than {MAX_DEPTH} levels deep")


def _encoded_size(value: Any) -> int:
    if value is None:
        return 0  # the library copies a missing/null node for free
    try:
        return len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits
        return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _go_kind(value: Any) -> str:
    """The JSON kind as Go's decoder names it in ``cannot unmarshal X into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# -- applying ------------------------------------------------------------------------------


def apply(doc: Any, ops: Any) -> Any:
    """Apply the parsed JSON Patch ``ops`` to ``doc`` and return the new document.

    Raises :class:`ApiError`: 400 for a malformed patch document, 413 for too many
    operations, 422 (generic message, reason in ``__cause__``) when an operation fails.
    """
    operations = _decode(ops)
    state = _State(deep_copy(doc))
    if operations and not isinstance(state.root, dict | list):
        raise unprocessable("json: cannot unmarshal document into a JSON object or array")
    for op in operations:
        try:
            _apply_op(state, op if op is not None else {})
        except PatchError as exc:
            raise unprocessable(str(exc)) from exc
    if state.deepened and nesting_depth(state.root) > MAX_DEPTH:
        raise unprocessable(f"the patched document is nested more than {MAX_DEPTH} levels deep")
    return state.root


def _decode(ops: Any) -> list[Any]:
    if ops is None:
        return []  # Go decodes ``null`` into an empty patch
    if not isinstance(ops, list):
        raise bad_request(
            f"json: cannot unmarshal {_go_kind(ops)} into Go value of type jsonpatch.Patch"
        )
    for op in ops:
        if op is not None and not isinstance(op, dict):
            raise bad_request(
                f"json: cannot unmarshal {_go_kind(op)} into Go value of type jsonpatch.Operation"
            )
    if len(ops) > MAX_OPERATIONS:
        raise too_large(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_OPERATIONS}, got {len(ops)}"
        )
    return ops


class _State:
    __slots__ = ("copied", "deepened", "root")

    def __init__(self, root: Any) -> None:
        self.root = root
        self.copied = 0
        # Set when a move put a subtree deeper than it was. Moves are checked once at the
        # end rather than per operation: re-walking the moved subtree every time would let
        # 10,000 moves of a large subtree cost 10,000 walks of it.
        self.deepened = False


def _apply_op(state: _State, op: dict[str, Any]) -> None:
    kind = op.get("op")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise PatchError(f"Unexpected kind: {kind if isinstance(kind, str) else 'unknown'}")
    handler(state, op)


def _pointer(op: dict[str, Any], member: str, kind: str) -> str:
    value = op.get(member)
    if not isinstance(value, str):
        raise PatchError(f"{kind} operation failed to decode {member}: missing value")
    return value


def _unescape(token: str) -> str:
    return _ESCAPE.sub(lambda m: "/" if m.group() == "~1" else "~", token)


def _find(root: Any, path: str) -> tuple[dict[str, Any] | list[Any], str] | None:
    """The container holding ``path``'s last token and that token, or None when the path
    does not lead to a container (the library's ``findObject``)."""
    if not path.startswith("/"):
        return None
    *parents, last = path.split("/")[1:]
    node = root
    for token in parents:
        key = _unescape(token)
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list):
            try:
                node = node[_index(key, len(node))]
            except PatchError:
                return None
        if not isinstance(node, dict | list):
            return None
    if not isinstance(node, dict | list):
        return None
    return node, _unescape(last)


def _index(key: str, size: int) -> int:
    """An array position by ``strconv.Atoi`` rules, negative counting from ``size``."""
    if not _INDEX.fullmatch(key):
        raise PatchError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    idx = int(key)
    if not -_INT64 <= idx < _INT64:
        raise PatchError(f'strconv.Atoi: parsing "{key}": value out of range')
    if idx < 0 and idx >= -size:
        idx += size
    if not 0 <= idx < size:
        raise PatchError(f"Unable to access invalid index: {key}: invalid index referenced")
    return idx


def _get(con: dict[str, Any] | list[Any], key: str) -> Any:
    if isinstance(con, dict):
        return con.get(key)
    return con[_index(key, len(con))]


def _add(con: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(con, dict):
        con[key] = value
    elif key == "-":
        con.append(value)
    else:
        # len + 1 slots: inserting at len appends, and -1 means "after the last".
        con.insert(_index(key, len(con) + 1), value)


def _remove(con: dict[str, Any] | list[Any], key: str) -> None:
    if isinstance(con, dict):
        if key not in con:
            raise PatchError(f"Unable to remove nonexistent key: {key}: missing value")
        del con[key]
    else:
        del con[_index(key, len(con))]


def _check_depth(path: str, value: Any) -> None:
    if path.count("/") + nesting_depth(value) > MAX_DEPTH:
        raise PatchError(f'value at "{path}" would be nested more than {MAX_DEPTH} levels deep')


def _target(state: _State, path: str, kind: str, what: str = "path") -> tuple[Any, str]:
    found = _find(state.root, path)
    if found is None:
        raise PatchError(f'{kind} operation does not apply: doc is missing {what}: "{path}"')
    return found


def _op_add(state: _State, op: dict[str, Any]) -> None:
    path = _pointer(op, "path", "add")
    value = op.get("value")
    _check_depth(path, value)
    con, key = _target(state, path, "add")
    _add(con, key, deep_copy(value))


def _op_remove(state: _State, op: dict[str, Any]) -> None:
    path = _pointer(op, "path", "remove")
    con, key = _target(state, path, "remove")
    _remove(con, key)


def _op_replace(state: _State, op: dict[str, Any]) -> None:
    path = _pointer(op, "path", "replace")
    value = op.get("value")
    _check_depth(path, value)
    if path == "":
        if not isinstance(value, dict | list):
            raise PatchError("replace operation value must be object or array")
        state.root = deep_copy(value)
        return
    con, key = _target(state, path, "replace")
    _get(con, key)  # bounds-checks arrays; a missing object member is simply added
    if isinstance(con, dict):
        con[key] = deep_copy(value)
    else:
        con[_index(key, len(con))] = deep_copy(value)


def _op_move(state: _State, op: dict[str, Any]) -> None:
    source = _pointer(op, "from", "move")
    con, key = _target(state, source, "move", "from path")
    value = _get(con, key)
    _remove(con, key)
    path = _pointer(op, "path", "move")
    dest, dest_key = _target(state, path, "move", "destination path")
    _add(dest, dest_key, value)
    state.deepened = state.deepened or path.count("/") > source.count("/")


def _op_copy(state: _State, op: dict[str, Any]) -> None:
    source = _pointer(op, "from", "copy")
    con, key = _target(state, source, "copy", "from path")
    value = _get(con, key)
    path = _pointer(op, "path", "copy")
    _check_depth(path, value)
    dest, dest_key = _target(state, path, "copy", "destination path")
    state.copied += _encoded_size(value)
    if state.copied > MAX_COPY_BYTES:
        raise PatchError(
            "Unable to complete the copy, the accumulated size increase of copy is "
            f"{state.copied}, exceeding the limit {MAX_COPY_BYTES}"
        )
    _add(dest, dest_key, deep_copy(value))


def _op_test(state: _State, op: dict[str, Any]) -> None:
    path = _pointer(op, "path", "test")
    _check_depth("", op.get("value"))  # bounds json_equal's recursion
    if path == "":
        actual = state.root
    else:
        found = _find(state.root, path)
        if found is None:
            raise PatchError(f"test operation does not apply: is missing path: {path}")
        actual = _get(*found)
    if not json_equal(actual, op.get("value")):
        raise PatchError(f"testing value {path} failed: test failed")


_HANDLERS = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}
