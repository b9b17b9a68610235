"""Drift: does the live object still say what we want it to say?

A reconciler that *owns* some fields of an object (it builds a desired, partial object and
server-side applies it) wants to write only when the live object has drifted from that
intent. :func:`drifted` answers which of the desired fields differ; :func:`needs_update` is
its boolean form.

The comparison follows apply semantics, where the desired object is a *partial* object:

* **Only what desired mentions counts.** Fields present in the actual object that desired
  does not mention are not drift: they are server defaults (``spec.revisionHistoryLimit``,
  ``terminationMessagePath``), fields owned by someone else (an HPA's ``replicas``, another
  controller's annotations), or status.
* **Server-populated fields are ignored** even when desired carries them (as it does when it
  was built from a fetched object): ``metadata.resourceVersion``, ``uid``, ``managedFields``,
  ``creationTimestamp``, ``generation``, ``selfLink``, ``deletionTimestamp``,
  ``deletionGracePeriodSeconds``, the top-level ``apiVersion``/``kind`` (list items carry
  none) and the whole ``status`` -- unless ``include_status=True``.
* **Maps recurse**; a leaf is reported at its own path, e.g. ``metadata.labels["app"]``.
* **Lists are atomic**: a different length is drift of the list itself (``spec.args``);
  otherwise elements are compared in order, at their own paths (``spec.args[2]``), dict
  elements with the same partial rule so that server defaults inside them are not drift.
* **Known map-lists are not atomic**: their items are matched by key, and order and extra
  items do not matter, as with ``x-kubernetes-list-type: map``. :data:`LIST_KEYS` is the
  default table (``containers``/``initContainers``/``env``/``volumes``/``imagePullSecrets``
  by ``name``, ``volumeMounts`` by ``mountPath``, ``ports`` by ``containerPort``/``port``
  and ``protocol`` (defaulting to TCP), ``conditions`` by ``type``, ...). The table is keyed
  by field name alone, wherever the field appears; pass ``list_keys=`` to extend or replace
  it (for a CRD's own map-lists). ``metadata.finalizers`` is a set: desired finalizers must
  be present, others may be too.
* **Go's omitempty**: with ``omitempty=True`` (the default), a desired value that is null,
  ``""``, ``0``, ``false``, ``{}`` or ``[]`` matches an absent field, because built-in types
  serialise such values as absent and the server would never show them; a desired null also
  matches an empty value. Otherwise null means "must be absent".
* Scalars compare by JSON value: ``1 == 1.0``, but ``true != 1``.

Paths use a JSONPath-like form: ``spec.template.spec.containers[name=app].image``,
``spec.args[2]``, ``metadata.labels["app.kubernetes.io/name"]``.

Caveats:

* Without ``managedFields`` this cannot know which fields we set *before* and have now
  dropped from desired; apply removes those, drift does not see them. If that matters,
  apply unconditionally (a no-op apply does not bump resourceVersion or emit a watch
  event).
* Values the server canonicalises compare unequal to their spelling in desired: resource
  quantities (``1000m`` vs ``1``, ``1Gi`` vs ``1024Mi``), and ``intOrString`` fields given
  as strings of digits. Write desired in canonical form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from pilothouse.client import typed

__all__ = ["LIST_KEYS", "SET_LISTS", "drifted", "needs_update"]

#: Map-lists of the built-in types: field name -> the item fields that identify an item.
LIST_KEYS: Mapping[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "resourceClaims": ("name",),
    "ports": ("containerPort", "port", "protocol"),
    "conditions": ("type",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "ownerReferences": ("uid",),
}

#: Lists with set semantics (``+listType=set``): each desired item must be present.
SET_LISTS: frozenset[str] = frozenset({"finalizers"})

#: Defaults of key fields, so a desired port without ``protocol`` matches the server's TCP.
_KEY_DEFAULTS: Mapping[str, Any] = {"protocol": "TCP"}

_SERVER_METADATA = frozenset(
    {
        "resourceVersion",
        "uid",
        "managedFields",
        "creationTimestamp",
        "generation",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_MISSING: Any = object()


class _ToObject(Protocol):
    def to_object(self) -> dict[str, Any]: ...


def _field(path: str, key: str) -> str:
    if _IDENT.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def _is_empty(value: Any) -> bool:
    if value is None or value is False:
        return True
    if isinstance(value, str | list | dict):
        return not value
    return isinstance(value, int | float) and value == 0


def _scalar_equal(a: Any, b: Any) -> bool:
    # bool is an int in Python; in JSON true and 1 are different values.
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return bool(type(a) is type(b) and a == b)


class _Walker:
    def __init__(self, list_keys: Mapping[str, Sequence[str]], omitempty: bool) -> None:
        self.list_keys = list_keys
        self.omitempty = omitempty

    def value(self, path: str, name: str, want: Any, have: Any) -> Iterator[str]:
        if have is _MISSING or have is None:
            if want is None or (self.omitempty and _is_empty(want)):
                return
            have = _MISSING
        elif want is None:
            if not (self.omitempty and _is_empty(have)):
                yield path
            return
        if isinstance(want, Mapping):
            if have is _MISSING:
                have = {}
            if not isinstance(have, Mapping):
                yield path
                return
            yield from self.mapping(path, want, have)
        elif isinstance(want, list):
            if have is _MISSING:
                have = []
            if not isinstance(have, list):
                yield path
            elif name in SET_LISTS:
                yield from self.set_list(path, want, have)
            elif name in self.list_keys and all(isinstance(i, Mapping) for i in want):
                yield from self.map_list(path, want, have, self.list_keys[name])
            else:
                yield from self.atomic_list(path, want, have)
        elif have is _MISSING or not _scalar_equal(want, have):
            yield path

    def mapping(self, path: str, want: Mapping[str, Any], have: Mapping[str, Any]) -> Iterator[str]:
        for key, sub in want.items():
            yield from self.value(_field(path, key), key, sub, have.get(key, _MISSING))

    def atomic_list(self, path: str, want: list[Any], have: list[Any]) -> Iterator[str]:
        if len(want) != len(have):
            yield path
            return
        for i, (w, h) in enumerate(zip(want, have, strict=True)):
            yield from self.value(f"{path}[{i}]", "", w, h)

    def set_list(self, path: str, want: list[Any], have: list[Any]) -> Iterator[str]:
        for item in want:
            if not any(_scalar_equal(item, h) for h in have):
                yield f"{path}[{item}]"

    def map_list(
        self, path: str, want: list[Any], have: list[Any], keys: Sequence[str]
    ) -> Iterator[str]:
        def key_of(item: Mapping[str, Any]) -> tuple[Any, ...]:
            return tuple(item.get(k, _KEY_DEFAULTS.get(k)) for k in keys)

        by_key = {key_of(h): h for h in have if isinstance(h, Mapping)}
        for item in want:
            shown = ",".join(f"{k}={item[k]}" for k in keys if k in item)
            match = by_key.get(key_of(item))
            if match is None:
                yield f"{path}[{shown}]"  # a missing item is one drift, not one per field
            else:
                yield from self.value(f"{path}[{shown}]", "", item, match)


def _walk(
    desired: Mapping[str, Any],
    actual: Mapping[str, Any],
    include_status: bool,
    list_keys: Mapping[str, Sequence[str]] | None,
    omitempty: bool,
) -> Iterator[str]:
    walker = _Walker(LIST_KEYS if list_keys is None else list_keys, omitempty)
    for key, want in desired.items():
        if key in ("apiVersion", "kind") or (key == "status" and not include_status):
            continue
        have = actual.get(key, _MISSING)
        if key == "metadata" and isinstance(want, Mapping):
            want = {k: v for k, v in want.items() if k not in _SERVER_METADATA}
        yield from walker.value(_field("", key), key, want, have)


def drifted(
    desired: Mapping[str, Any] | _ToObject,
    actual: Mapping[str, Any] | _ToObject,
    *,
    include_status: bool = False,
    list_keys: Mapping[str, Sequence[str]] | None = None,
    omitempty: bool = True,
) -> list[str]:
    """The paths where ``actual`` differs from the partial object ``desired`` (empty: none).

    ``list_keys`` replaces :data:`LIST_KEYS` (merge the two to extend it:
    ``{**LIST_KEYS, "replicas": ("name",)}``).
    """
    return list(
        _walk(typed.encode(desired), typed.encode(actual), include_status, list_keys, omitempty)
    )


def needs_update(
    desired: Mapping[str, Any] | _ToObject,
    actual: Mapping[str, Any] | _ToObject,
    *,
    include_status: bool = False,
    list_keys: Mapping[str, Sequence[str]] | None = None,
    omitempty: bool = True,
) -> bool:
    """Whether ``actual`` has drifted from ``desired`` at all (stops at the first path)."""
    walk = _walk(typed.encode(desired), typed.encode(actual), include_status, list_keys, omitempty)
    return next(walk, None) is not None
