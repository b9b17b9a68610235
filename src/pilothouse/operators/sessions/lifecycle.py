"""The Session lifecycle controller: workload, phase, idle hibernation and wake-up.

One reconciler (:class:`SessionReconciler`) owns everything a Session turns into. Each pass
reads the Session and its children from the cache and:

1. **Wake**: a hibernated session whose ``wake-requested-at`` annotation is newer than
   ``status.hibernatedAt`` is set running (``spec.state``), ``stoppedBy`` cleared. The spec
   is patched *before* status, so a crash in between cannot lose the request. State
   changes are JSON patches guarded by a ``test`` of the state we decided from, so a
   concurrent user change always wins.
2. **Idle / max duration** (running sessions, :mod:`.idle`): past the deadline, the
   session is hibernated with ``stoppedBy: idle`` (or ``max-duration``) and an Event. Here
   status is written *before* the spec patch, so a crash in between cannot misattribute the
   stop to the user (a running spec clears ``stoppedBy`` and the next pass re-decides).
3. **Template**: a missing SessionTemplate, or no image at all, makes the session Failed
   with a ``Ready`` condition naming the problem and a Warning Event (reason
   ``TemplateNotFound`` or ``NoImage``), and no retry. This is ``TerminalError``'s contract
   done by hand, because the status must say why and the Event should carry the reason
   (the runtime's terminal hook records a generic ``ReconcileError``). The controller
   watches templates, so creating the template brings the session back. A workload that
   already runs is left alone: losing a template must not kill a user's session.
4. **Workload** (:mod:`.workload`): server-side applies the home claim, the Deployment (1
   or 0 replicas) and the Service with the Session as controller owner -- only when the
   cached object has drifted, so a quiet session costs no writes; a terminated session
   has its Deployment and Service deleted, and its claim too unless ``keepOnTerminate``.
5. **Status**: phase and conditions derived from the cluster (:mod:`.phase`), written by
   server-side apply under :data:`FIELD_MANAGER` when they changed, or when
   ``lastReconcileTime`` is older than ``status_refresh`` (so clients can tell live status
   from stale). ``lastActivity`` is never part of it: that field belongs to the sessions
   API. Events mark phase transitions.
6. **Schedule**: ``requeue_after`` until the earliest moment the session could become idle
   or reach its maximum duration, capped by ``status_refresh``. Nothing ever polls all
   sessions.

Session updates reach the controller only when the generation (spec) or the annotations
change: heartbeats writing ``status.lastActivity`` cause no reconcile (the scheduled one
picks the new activity up), and neither do the controller's own status writes, so there is
no write-reconcile loop.

Caveats:

* Deadlines are wall-clock times (they are compared with RFC 3339 times other processes
  wrote), while the runtime's :class:`~pilothouse.runtime.clock.Clock` is monotonic: the
  reconciler reads the time of day from ``SessionOptions.wall_clock``, or from
  :func:`wall_clock` over the manager's clock when the manager has one (tests give it a
  ``FakeClock`` and move time), else from the system.
* ``hibernatedAt`` is recorded when the controller first sees a session stopped. A wake
  request sent between the user's hibernate and that moment is older than it and ignored.
* ``keepOnTerminate`` keeps the claim while the Session exists; deleting the Session
  deletes everything it owns.
* Deletion: with a record store configured (``SessionOptions.records``), the Session
  carries :data:`.records.FINALIZER` and the API's records are deleted before it goes
  (:mod:`.records`); the garbage collector removes the children either way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pilothouse.api import kinds
from pilothouse.client import errors
from pilothouse.operators.sessions import common, duration, idle, phase, workload
from pilothouse.operators.sessions import records as records_mod
from pilothouse.operators.sessions import session as session_mod
from pilothouse.operators.sessions import template as template_mod
from pilothouse.runtime import clock as clock_mod
from pilothouse.runtime import conditions, drift
from pilothouse.runtime import reconcile as reconcile_mod

if TYPE_CHECKING:
    from pilothouse.runtime import manager as manager_mod

__all__ = [
    "DEFAULT_IDLE_GRACE",
    "FIELD_MANAGER",
    "SessionOptions",
    "SessionReconciler",
    "wall_clock",
]

log = logging.getLogger(__name__)

FIELD_MANAGER = "sessions.pilothouse.dev/lifecycle"
#: How long past ``idleTimeout`` a session may stay idle before it is hibernated.
DEFAULT_IDLE_GRACE = 60.0
#: The oldest ``lastReconcileTime`` a live session may show, and the longest requeue.
DEFAULT_STATUS_REFRESH = 300.0

SESSION = session_mod.Session.kind_info()
TEMPLATE = template_mod.SessionTemplate.kind_info()
PVC = kinds.BUILTIN[kinds.GroupVersionKind("", "v1", "PersistentVolumeClaim")]


Obj = dict[str, Any]


@dataclass
class SessionOptions:
    idle_grace: float = DEFAULT_IDLE_GRACE
    status_refresh: float = DEFAULT_STATUS_REFRESH
    #: The time of day; None: the manager's clock when it has one (see :func:`wall_clock`),
    #: else the system's.
    wall_clock: Callable[[], datetime] | None = None
    #: The sessions API's records, cleaned by a finalizer on deletion (:mod:`.records`);
    #: None: no finalizer.
    records: records_mod.RecordStore | None = None


def wall_clock(clock: clock_mod.Clock) -> Callable[[], datetime]:
    """Wall-clock time that advances with the runtime's monotonic ``clock``, anchored at
    the current time of day. With the manager's :class:`~pilothouse.runtime.clock.FakeClock`
    this moves idle deadlines *and* fires the requeues scheduled for them, so a test can
    jump thirty minutes ahead instead of waiting."""
    anchor_wall, anchor_mono = datetime.now(UTC), clock.now()

    def now() -> datetime:
        return anchor_wall + timedelta(seconds=clock.now() - anchor_mono)

    return now


class SessionReconciler:
    """Reconciles one Session (see the module docstring)."""

    def __init__(self, mgr: manager_mod.Manager, options: SessionOptions | None = None) -> None:
        self.mgr = mgr
        self.options = options or SessionOptions()
        # Pods by their session label: a selector would copy and test every pod in the
        # namespace on each pass (quadratic in sessions; measured in docs/benchmarks.md).
        self._pods = mgr.cache.index_label(kinds.POD, common.LABEL_SESSION)
        if self.options.wall_clock is not None:
            self.now = self.options.wall_clock
        elif mgr.clock is not None:
            self.now = wall_clock(mgr.clock)
        else:
            self.now = _system_time

    # -- reading ---------------------------------------------------------------------------

    async def _get(self, kind: kinds.Kind, name: str, namespace: str) -> Obj | None:
        obj: Obj | None = await self.mgr.cache.try_get(kind, name, namespace)
        return obj

    async def _template(self, name: str, namespace: str) -> template_mod.SessionTemplateSpec | None:
        obj = await self._get(TEMPLATE, name, namespace)
        if obj is None:
            return None
        return template_mod.SessionTemplate.from_object(obj).spec

    # -- the pass --------------------------------------------------------------------------

    async def reconcile(self, req: reconcile_mod.Request) -> reconcile_mod.Result | None:
        obj = await self._get(SESSION, req.name, req.namespace)
        if obj is None:
            return None
        return await records_mod.finalize(
            self.mgr.client, SESSION, obj, self.options.records, self._live
        )

    async def _live(self, obj: Obj) -> reconcile_mod.Result | None:
        if obj["metadata"].get("deletionTimestamp"):
            return None  # going: the garbage collector removes the children
        req = reconcile_mod.Request.for_object(obj)
        now = self.now()
        spec = session_mod.SessionSpec.model_validate(obj["spec"])
        status: Obj = dict(obj.get("status") or {})
        desired = spec.state
        stopped_by: str | None = status.get("stoppedBy")
        hibernated_at = idle.parse_time(status.get("hibernatedAt"))
        started_at = idle.parse_time(status.get("startedAt"))
        stop: idle.Decision | None = None
        events: list[tuple[str, str, str, str]] = []  # type, reason, action, note

        if desired == "hibernated":
            wake = (obj["metadata"].get("annotations") or {}).get(
                common.ANNOTATION_WAKE_REQUESTED_AT
            )
            if idle.wake_requested(wake, hibernated_at):
                # Spec first: once it says running, the request has been honoured even if
                # we crash before the status write.
                try:
                    await self._set_state(req, "hibernated", "running")
                except errors.Forbidden as exc:
                    # The quota webhook refused: the session stays hibernated and says why.
                    # The request stays on the Session and is tried again on the next pass
                    # (any change to the Session, or the periodic refresh), by when quota
                    # may have been freed.
                    events.append(("Warning", "WakeDenied", "Wake", str(exc)))
                else:
                    desired = spec.state = "running"
                    events.append(("Normal", "WakeRequested", "Wake", f"wake requested at {wake}"))

        if desired == "running":
            stopped_by, hibernated_at = None, None
            started_at = started_at or now
            stop = idle.evaluate(
                now,
                last_activity=idle.parse_time(status.get("lastActivity")),
                started_at=started_at,
                created_at=idle.parse_time(obj["metadata"].get("creationTimestamp")),
                idle_timeout=duration.parse_duration(spec.idle_timeout),
                max_duration=(
                    duration.parse_duration(spec.max_session_duration)
                    if spec.max_session_duration
                    else None
                ),
                grace=self.options.idle_grace,
            )
            if stop.stop is not None:
                desired, stopped_by = "hibernated", stop.stop
                reason = "IdleTimeout" if stop.stop == "idle" else "MaxDurationReached"
                events.append(("Normal", reason, "Hibernate", f"hibernating: {stop.note}"))
        if desired != "running":
            started_at = None
            stopped_by = stopped_by or "user"
            hibernated_at = hibernated_at or now

        bookkeeping = {
            "stoppedBy": stopped_by,
            "startedAt": idle.format_time(started_at) if started_at else None,
            "hibernatedAt": idle.format_time(hibernated_at) if hibernated_at else None,
        }
        home = spec.home if spec.home is not None and spec.home.enabled else None

        resolved: workload.Resolved | None = None
        if desired != "terminated":
            try:
                tmpl = None
                if spec.template:
                    tmpl = await self._template(spec.template, req.namespace)
                    if tmpl is None:
                        raise workload.ResolveError(
                            "TemplateNotFound",
                            f'SessionTemplate "{spec.template}" not found in namespace '
                            f'"{req.namespace}"',
                        )
                resolved = workload.resolve(spec, tmpl)
            except workload.ResolveError as exc:
                await self._write_failed(obj, status, bookkeeping, exc, now)
                return None  # nothing to retry: a template watch or a spec edit wakes us

        assert resolved is not None or desired == "terminated"
        children = await self._make_children(obj, desired, resolved, home, spec.home)
        deployment, pods, service, claim = children
        observed = phase.derive(
            desired,
            current_phase=status.get("phase"),
            deployment=deployment,
            pods=pods,
            service=service,
            home_claim=claim,
            keep_home=bool(spec.home and spec.home.keep_on_terminate),
        )
        new: Obj = {
            "phase": observed.phase,
            "message": observed.message or None,
            "podName": observed.pod_name if observed.ready else None,
            "nodeName": observed.node_name if observed.ready else None,
            "url": (
                workload.url(req.name, req.namespace, resolved)
                if resolved is not None and desired == "running"
                else None
            ),
            **bookkeeping,
        }
        conds = [dict(c) for c in status.get("conditions") or ()]
        gen = obj["metadata"].get("generation")
        ready_status: bool | str = observed.ready
        conditions.set_condition(
            conds, "Ready", ready_status, observed.reason, observed.message, gen, now=now
        )
        storage, s_reason, s_message = phase.storage_status(home is not None, claim)
        if desired == "terminated":
            storage, s_reason, s_message = False, "Released", "the session is terminated"
        conditions.set_condition(conds, "StorageReady", storage, s_reason, s_message, gen, now=now)
        new["conditions"] = conds
        new["observedGeneration"] = gen
        await self._write_status(obj, status, new, now)

        if status.get("phase") != observed.phase:
            events.append(
                ("Normal", observed.phase, "Reconcile", observed.message or observed.reason)
            )
        if stop is not None and stop.stop is not None:
            # After the status write (see the module docstring).
            await self._set_state(req, "running", "hibernated")
        for etype, reason, action, note in events:
            self.mgr.recorder.event(obj, etype, reason, action, note)
        return self._schedule(desired, stop, now)

    async def _set_state(self, req: reconcile_mod.Request, expected: str, state: str) -> None:
        """Change ``spec.state`` only if it still says ``expected``: a user who terminated
        the session in the meantime must not be overridden by our stale decision (the
        ``test`` fails, the pass is retried and sees the user's state)."""
        ops = [
            {"op": "test", "path": "/spec/state", "value": expected},
            {"op": "replace", "path": "/spec/state", "value": state},
        ]
        await self.mgr.client.patch(
            SESSION, req.name, ops, namespace=req.namespace, patch_type="json"
        )

    def _schedule(
        self, desired: str, stop: idle.Decision | None, now: datetime
    ) -> reconcile_mod.Result | None:
        if desired == "terminated":
            return None
        after = self.options.status_refresh
        if desired == "running" and stop is not None and stop.stop is None:
            until = stop.requeue_after(now)
            if until is not None:
                after = min(after, until)
        return reconcile_mod.Result(requeue_after=after)

    # -- children --------------------------------------------------------------------------

    async def _make_children(
        self,
        obj: Obj,
        desired: str,
        resolved: workload.Resolved | None,
        home: session_mod.HomeSpec | None,
        home_spec: session_mod.HomeSpec | None,
    ) -> tuple[Obj | None, list[Obj], Obj | None, Obj | None]:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        deployment = await self._get(kinds.DEPLOYMENT, workload.workload_name(name), ns)
        service = await self._get(kinds.SERVICE, workload.workload_name(name), ns)
        claim = await self._get(PVC, workload.claim_name(name), ns)
        if desired == "terminated":
            keep = bool(home_spec and home_spec.keep_on_terminate)
            await self._delete(kinds.DEPLOYMENT, deployment)
            await self._delete(kinds.SERVICE, service)
            if not keep:
                await self._delete(PVC, claim)
        else:
            assert resolved is not None
            if home is not None:
                claim = await self._apply(workload.claim(obj, home), claim)
            replicas = 1 if desired == "running" else 0
            deployment = await self._apply(
                workload.deployment(obj, resolved, replicas=replicas, home=home), deployment
            )
            service = await self._apply(workload.service(obj, resolved), service)
        pods: list[Obj] = await self.mgr.cache.list(kinds.POD, ns, index=(self._pods, name))
        return deployment, pods, service, claim

    async def _apply(self, desired: Obj, actual: Obj | None) -> Obj:
        if actual is not None and not drift.needs_update(desired, actual):
            return actual
        applied: Obj = await self.mgr.client.apply(desired, field_manager=FIELD_MANAGER, force=True)
        return applied

    async def _delete(self, kind: kinds.Kind, obj: Obj | None) -> None:
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        meta = obj["metadata"]
        with contextlib.suppress(errors.NotFound):  # already gone: what we wanted
            await self.mgr.client.delete(
                kind, meta["name"], meta["namespace"], propagation_policy="Background"
            )

    # -- status ----------------------------------------------------------------------------

    async def _write_failed(
        self,
        obj: Obj,
        status: Obj,
        bookkeeping: Obj,
        exc: workload.ResolveError,
        now: datetime,
    ) -> None:
        conds = [dict(c) for c in status.get("conditions") or ()]
        gen = obj["metadata"].get("generation")
        conditions.set_condition(conds, "Ready", False, exc.reason, str(exc), gen, now=now)
        new: Obj = {
            "phase": "Failed",
            "message": str(exc),
            "conditions": conds,
            "observedGeneration": gen,
            **bookkeeping,
        }
        await self._write_status(obj, status, new, now)
        if status.get("phase") != "Failed" or status.get("message") != str(exc):
            self.mgr.recorder.warning(obj, exc.reason, "Reconcile", str(exc))

    async def _write_status(self, obj: Obj, current: Obj, new: Obj, now: datetime) -> None:
        """Apply ``new`` (our fields only) unless it is what the status already says and
        ``lastReconcileTime`` is fresh."""
        body = {k: v for k, v in new.items() if v is not None}
        mine = {k: current.get(k) for k in (*new, "conditions") if current.get(k) is not None}
        last = idle.parse_time(current.get("lastReconcileTime"))
        fresh = last is not None and (now - last).total_seconds() < self.options.status_refresh
        if fresh and mine == body:
            return
        body["lastReconcileTime"] = idle.format_time(now)
        meta = obj["metadata"]
        await self.mgr.client.apply_status(
            {
                "apiVersion": SESSION.api_version,
                "kind": SESSION.kind,
                "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                "status": body,
            },
            field_manager=FIELD_MANAGER,
        )


def _system_time() -> datetime:
    return datetime.now(UTC)
