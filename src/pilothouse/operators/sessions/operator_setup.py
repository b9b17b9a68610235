"""Wiring the session controllers into a manager: :func:`setup` and :data:`CRDS`.

The package's ``Operator`` is assembled from these and the node-operation parts (by the
lead), so this module is the one entry point a manager needs for sessions: it registers
the lifecycle controller (:mod:`.lifecycle`) with what it watches --

* Sessions, filtered to spec (generation) and annotation changes: heartbeats and the
  controller's own status writes cause no reconcile (see :mod:`.lifecycle`);
* the Deployments, Services and claims it owns (by controller owner reference);
* pods, mapped to their session by the ``sessions.pilothouse.dev/session`` label (pods are
  owned by ReplicaSets, not by the Session, so ownership cannot route them);
* SessionTemplates, mapped to the sessions naming them through a cache index, so a
  template created after its sessions un-fails them, and an edited template rolls out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pilothouse import crd
from pilothouse.api import kinds
from pilothouse.operators.sessions import common, lifecycle
from pilothouse.operators.sessions import quota as quota_mod
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions import template as template_mod
from pilothouse.runtime import predicate, reconcile, store

if TYPE_CHECKING:
    from pilothouse.runtime import manager as manager_mod

__all__ = ["CRDS", "TEMPLATE_INDEX", "setup"]

#: The custom resources the session controllers serve (for ``Operator(crds=...)``).
CRDS: list[type[crd.CustomResource]] = [
    session_mod.Session,
    template_mod.SessionTemplate,
    quota_mod.SessionQuota,
]

#: The cache index mapping a template name to the sessions using it.
TEMPLATE_INDEX = "spec.template"

Obj = dict[str, Any]


def _sessions_using_template(
    mgr: manager_mod.Manager,
) -> Callable[[Obj], Iterable[reconcile.Request]]:
    st = mgr.cache.informer(lifecycle.SESSION).store

    def mapper(tmpl: Obj) -> Iterable[reconcile.Request]:
        ns = tmpl["metadata"].get("namespace")
        for sess in st.by_index(TEMPLATE_INDEX, tmpl["metadata"]["name"]):
            if sess["metadata"].get("namespace") == ns:
                yield reconcile.Request.for_object(sess)

    return mapper


def _session_of_pod(pod: Obj) -> Iterable[reconcile.Request]:
    name = (pod["metadata"].get("labels") or {}).get(common.LABEL_SESSION)
    if name:
        yield reconcile.Request(pod["metadata"].get("namespace") or "", name)


def setup(mgr: manager_mod.Manager, options: lifecycle.SessionOptions | None = None) -> None:
    """Register the Session lifecycle controller with ``mgr``."""
    mgr.cache.informer(lifecycle.SESSION).store.add_index(
        TEMPLATE_INDEX, store.field_index(TEMPLATE_INDEX)
    )
    rec = lifecycle.SessionReconciler(mgr, options)
    (
        mgr.builder()
        .named("session")
        .for_(
            lifecycle.SESSION,
            predicate.or_(predicate.GenerationChanged(), predicate.AnnotationsChanged()),
        )
        .owns(kinds.DEPLOYMENT)
        .owns(kinds.SERVICE)
        .owns(lifecycle.PVC)
        .watches(kinds.POD, _session_of_pod)
        .watches(lifecycle.TEMPLATE, _sessions_using_template(mgr))
        .with_options(max_concurrent_reconciles=4, reconcile_timeout=60)
        .complete(rec)
    )
