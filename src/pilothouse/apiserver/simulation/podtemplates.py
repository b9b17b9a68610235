"""Helpers shared by the workload controllers: template hashes, pods from templates,
readiness and availability.

Design choices:

* :func:`template_hash` follows kube's ``controller.ComputeHash``: a 32-bit FNV-1a over the
  template (plus the Deployment's ``collisionCount``), printed in decimal and then mapped
  through ``rand.SafeEncodeString``'s alphabet (no vowels, so no words, and no look-alike
  characters). Kube hashes a ``spew`` dump of the Go struct; we hash canonical JSON
  (sorted keys, no spaces), so the value is stable across restarts and processes but not
  byte-identical to a real cluster's.
* Templates are compared with :func:`equal_ignore_hash` (kube's ``EqualIgnoreHash``), so a
  ReplicaSet's template, which carries the ``pod-template-hash`` label, still matches the
  Deployment's template it was made from.
* Availability is measured against the server's clock (``ServerState.clock``), so tests may
  drive ``minReadySeconds`` with a fake clock; :func:`available_after` tells a controller
  when to look again.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

from pilothouse.api import labels as labels_mod
from pilothouse.apiserver.printers.format import parse_time

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv32a(data: bytes) -> int:
    h = _FNV_OFFSET
    for b in data:
        h ^= b
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    """``rand.SafeEncodeString``: each byte mapped onto a vowel-free alphabet."""
    return "".join(_SAFE_ALPHABET[b % len(_SAFE_ALPHABET)] for b in s.encode())


def template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """The ``pod-template-hash`` of ``template`` (stable, ignores an existing hash label)."""
    data = json.dumps(strip_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def strip_hash(template: Mapping[str, Any]) -> Obj:
    """A copy of ``template`` without the ``pod-template-hash`` label."""
    out = copy.deepcopy(dict(template))
    meta = out.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    labels.pop(HASH_LABEL, None)
    meta = dict(meta)
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if meta:
        out["metadata"] = meta
    else:
        out.pop("metadata", None)
    return out


def equal_ignore_hash(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return strip_hash(a) == strip_hash(b)


def pod_from_template(template: Mapping[str, Any], owner_ref: Obj, owner_name: str) -> Obj:
    """A new pod for ``template``: ``generateName: <owner>-`` and the controller reference,
    with the template's labels, annotations and finalizers (as ``GetPodFromTemplate``)."""
    tmeta = template.get("metadata") or {}
    meta: Obj = {"generateName": f"{owner_name}-", "ownerReferences": [owner_ref]}
    for field in ("labels", "annotations", "finalizers"):
        if tmeta.get(field):
            meta[field] = copy.deepcopy(tmeta[field])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_active(pod: Mapping[str, Any]) -> bool:
    """``controller.IsPodActive``: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def ready_condition(pod: Mapping[str, Any]) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return dict(c)
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    c = ready_condition(pod)
    return c is not None and c.get("status") == "True"


def ready_since(pod: Mapping[str, Any]) -> dt.datetime | None:
    """When the pod became Ready, or None if it is not Ready."""
    c = ready_condition(pod)
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime")) or dt.datetime.min.replace(tzinfo=dt.UTC)


def available_after(pod: Mapping[str, Any], min_ready_seconds: int, now: dt.datetime) -> float:
    """Seconds until the pod counts as available: 0 if it already is, ``inf`` if it is not
    Ready (``podutil.IsPodAvailable``)."""
    since = ready_since(pod)
    if since is None:
        return math.inf
    if min_ready_seconds <= 0:
        return 0.0
    left = (since + dt.timedelta(seconds=min_ready_seconds) - now).total_seconds()
    return max(left, 0.0)


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: dt.datetime) -> bool:
    return available_after(pod, min_ready_seconds, now) == 0.0


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or ``"N%"`` of ``total`` rounded
    up (maxSurge) or down (maxUnavailable). A bad value counts as 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        s = value.strip()
        try:
            if s.endswith("%"):
                scaled = int(s[:-1]) * total / 100
                return math.ceil(scaled) if round_up else math.floor(scaled)
            return int(s)
        except ValueError:
            return 0
    return 0


def fenceposts(rolling_update: Mapping[str, Any] | None, replicas: int) -> tuple[int, int]:
    """``ResolveFenceposts``: (maxSurge, maxUnavailable) of a ``rollingUpdate`` stanza
    (defaults 25%/25%), surge rounded up and unavailability down; both 0 means 1
    unavailable, so a rollout can always make progress."""
    ru = rolling_update or {}
    surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether a ``metav1.LabelSelector`` selects ``labels``; an invalid one selects
    nothing."""
    try:
        sel = labels_mod.from_label_selector(selector)
    except labels_mod.SelectorError:
        return False
    return sel.matches(labels or {})
