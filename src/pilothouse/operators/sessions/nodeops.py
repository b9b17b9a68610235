"""The NodeOperation controller: cordon, uncordon, label, unlabel, taint, untaint and drain.

Each :class:`~pilothouse.operators.sessions.nodeoperation.NodeOperation` is carried out
once and then kept as a record: a Succeeded or Failed operation is never run again, even
after a restart or a resync. What to evict, skip or refuse, and how taints change, is
decided by the pure functions of :mod:`pilothouse.operators.sessions.drain`; this module
performs those decisions and reports them.

Guarantees:

* **Idempotent node writes.** Cordon, labels and taints are merge patches computed from
  the node as it is, sent only when they change something, so a reconcile repeated after
  a crash does no harm. Taint patches carry the node's resourceVersion: a concurrent
  change to the taints is a 409 and the reconcile is retried on fresh data rather than
  overwriting it.
* **Drains never hold a worker.** One reconcile cordons the node, lists its pods (a live
  list by ``spec.nodeName``), evicts what may be evicted through the Eviction API
  (``policy/v1``, so PodDisruptionBudgets are honoured), writes progress to status and
  returns with ``requeue_after``: :attr:`Tuning.poll_interval` while evicted pods
  terminate, or a backoff doubling from :attr:`Tuning.retry_base` to
  :attr:`Tuning.retry_max` while a budget refuses evictions (429). The drain ends
  Succeeded when no pod is left to move, or Failed when ``drain.timeout`` (counted from
  ``status.startTime``, so a restart does not reset it) passes first, with a message
  naming the pods still there and the last budget refusal.
* **Progress survives restarts.** The evicted pods, the retry count and the start time are
  in status; the operation's own object is read live before acting on it, so a cache that
  lags behind the controller's last status write cannot make it forget an eviction or
  restart the timeout clock.
* **No hot loops.** Status writes do not trigger reconciles (the watch passes spec
  changes only, and the spec is immutable); every wait is a ``requeue_after``; failures
  the user must fix (a missing node, an invalid spec, pods the options forbid evicting)
  end the operation as Failed, with a ``Succeeded=False`` condition and a Warning event.

Caveats: deleting a running NodeOperation stops the drain where it is and leaves the node
cordoned, as interrupting ``kubectl drain`` does. Pods are listed from the API server,
not from the shared cache, so the manager does not have to watch every pod of the cluster
for a controller that runs rarely.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pydantic

from pilothouse.api import kinds
from pilothouse.client import errors
from pilothouse.operators.sessions import drain, nodeoperation
from pilothouse.runtime import conditions, manager, predicate
from pilothouse.runtime import reconcile as reconcile_mod

__all__ = ["FIELD_MANAGER", "NodeOperationReconciler", "Tuning", "setup"]

log = logging.getLogger(__name__)

FIELD_MANAGER = "pilothouse-nodeops"
KIND = nodeoperation.NodeOperation.kind_info()
_NODE = kinds.builtin("v1", "Node")
assert _NODE is not None
NODE: kinds.Kind = _NODE
FINAL = ("Succeeded", "Failed")
CONDITION = "Succeeded"
# Status lists and messages are bounded: the CRD caps the lists, and a message naming a
# thousand pods helps nobody.
_MAX_LISTED = 1024
_MAX_NAMED = 10


@dataclasses.dataclass(frozen=True)
class Tuning:
    """Timing of drains (short values make tests fast; defaults suit real clusters)."""

    #: First delay after a disruption budget refused an eviction; doubles per round.
    retry_base: float = 1.0
    #: The most the retry delay grows to.
    retry_max: float = 30.0
    #: How often to look again while evicted pods terminate.
    poll_interval: float = 2.0
    field_manager: str = FIELD_MANAGER


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _names(pods: Sequence[str]) -> str:
    shown = ", ".join(pods[:_MAX_NAMED])
    more = len(pods) - _MAX_NAMED
    return shown + (f" and {more} more" if more > 0 else "")


class NodeOperationReconciler:
    """Carries out NodeOperations; see the module docstring."""

    def __init__(self, mgr: manager.Manager, tuning: Tuning | None = None) -> None:
        self.mgr = mgr
        self.client = mgr.client
        self.tuning = tuning or Tuning()

    async def reconcile(self, request: reconcile_mod.Request) -> reconcile_mod.Result | None:
        cached = await self.mgr.cache.try_get(KIND, request.name)
        if cached is None or (cached.get("status") or {}).get("phase") in FINAL:
            return None  # deleted, or a record: nothing to do (and no API request)
        try:
            obj: dict[str, Any] = await self.client.get(KIND, request.name)
        except errors.NotFound:
            return None
        status: dict[str, Any] = dict(obj.get("status") or {})
        if status.get("phase") in FINAL:
            return None
        try:
            op = nodeoperation.NodeOperation.from_object(obj)
        except pydantic.ValidationError as exc:
            return await self._finish(obj, status, "InvalidSpec", f"invalid spec: {exc}")
        spec = op.spec
        problems = nodeoperation.spec_problems(spec)
        if problems:
            return await self._finish(obj, status, "InvalidSpec", "; ".join(problems))
        try:
            node: dict[str, Any] = await self.client.get(NODE, spec.node)
        except errors.NotFound:
            return await self._finish(
                obj, status, "NodeNotFound", f"node {spec.node!r} does not exist"
            )
        try:
            if spec.operation == "drain":
                return await self._drain(obj, status, spec, node)
            message = await self._change_node(spec, node)
        except errors.Invalid as exc:
            # The node change itself is invalid (a label value kube refuses...): retrying
            # cannot help.
            return await self._finish(obj, status, "Refused", f"the API server refused: {exc}")
        return await self._finish(obj, status, "", message, succeeded=True)

    # -- instant operations ----------------------------------------------------------------

    async def _patch_node(self, name: str, patch: dict[str, Any]) -> None:
        await self.client.patch(NODE, name, patch, field_manager=self.tuning.field_manager)

    async def _change_node(
        self, spec: nodeoperation.NodeOperationSpec, node: dict[str, Any]
    ) -> str:
        """Cordon, uncordon, (un)label or (un)taint ``node``; the success message."""
        name = spec.node
        meta = node.get("metadata") or {}
        labels: dict[str, str] = meta.get("labels") or {}
        unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        taints: list[dict[str, Any]] = (node.get("spec") or {}).get("taints") or []
        op = spec.operation
        if op == "cordon":
            if not unschedulable:
                await self._patch_node(name, {"spec": {"unschedulable": True}})
            return f"node {name} cordoned"
        if op == "uncordon":
            if unschedulable:
                # null removes the field, as kubectl uncordon leaves the node.
                await self._patch_node(name, {"spec": {"unschedulable": None}})
            return f"node {name} uncordoned"
        if op == "label":
            changed = {k: v for k, v in spec.labels.items() if labels.get(k) != v}
            if changed:
                await self._patch_node(name, {"metadata": {"labels": changed}})
            return f"node {name} labelled " + ", ".join(f"{k}={v}" for k, v in spec.labels.items())
        if op == "unlabel":
            keys = sorted({*spec.label_keys, *spec.labels})
            present = [k for k in keys if k in labels]
            if present:
                await self._patch_node(name, {"metadata": {"labels": dict.fromkeys(present)}})
            return f"node {name} unlabelled " + ", ".join(keys)
        wanted = [t.model_dump(mode="json", exclude_none=True) for t in spec.taints]
        if op == "taint":
            new = drain.add_taints(taints, wanted)
        else:
            new = drain.remove_taints(taints, wanted)
        if new != taints:
            patch = {
                "metadata": {"resourceVersion": meta.get("resourceVersion")},
                "spec": {"taints": new or None},
            }
            await self._patch_node(name, patch)
        shown = ", ".join(t.key + (f":{t.effect}" if t.effect else "") for t in spec.taints)
        return f"node {name} {'tainted' if op == 'taint' else 'untainted'} {shown}"

    # -- drain -----------------------------------------------------------------------------

    async def _evict(self, pod: Mapping[str, Any], grace: int | None) -> None:
        meta = pod["metadata"]
        body: dict[str, Any] = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
        }
        if grace is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace}
        path = kinds.POD.path(meta.get("namespace") or "default", meta["name"]) + "/eviction"
        await self.client.request("POST", path, body=body)

    async def _drain(
        self,
        obj: dict[str, Any],
        status: dict[str, Any],
        spec: nodeoperation.NodeOperationSpec,
        node: dict[str, Any],
    ) -> reconcile_mod.Result | None:
        opts = nodeoperation.drain_options(spec)
        now = _now()
        started = _parse_time(status.get("startTime"))
        if status.get("phase") != "Running" or started is None:
            started = now
            status = self._base_status(obj, status, "Running", now)
            self.mgr.recorder.normal(obj, "Started", "Drain", f"draining node {spec.node}")
        deadline = started.timestamp() + nodeoperation.timeout_seconds(spec)

        if not (node.get("spec") or {}).get("unschedulable"):
            await self._patch_node(spec.node, {"spec": {"unschedulable": True}})
        listed = await self.client.list(
            kinds.POD, None, field_selector=f"spec.nodeName={spec.node}"
        )
        plan = drain.plan_drain(
            listed.items,
            ignore_daemon_sets=opts.ignore_daemon_sets,
            delete_empty_dir_data=opts.delete_empty_dir_data,
            force=opts.force,
        )
        evicted: list[str] = list(status.get("evictedPods") or [])
        pending = plan.pending
        status["pendingPods"] = pending[:_MAX_LISTED]
        status["progress"] = drain.progress(evicted, pending)
        if plan.refused:
            message = drain.refusal_message(spec.node, plan.refused)
            return await self._finish(obj, status, "DrainRefused", message)
        if plan.done:
            skipped = f" ({len(plan.skipped)} pods left on it)" if plan.skipped else ""
            message = f"node {spec.node} drained{skipped}"
            return await self._finish(obj, status, "", message, succeeded=True)
        if now.timestamp() >= deadline:
            timeout = opts.timeout
            message = (
                f"drain of node {spec.node} timed out after {timeout}: pods still on the "
                f"node: {_names(pending)}"
            )
            if status.get("message"):
                message += f"; last: {status['message']}"
            return await self._finish(obj, status, "DrainTimeout", message)

        blocked: list[str] = []
        for pod in plan.evict:
            name = drain.pod_name(pod)
            try:
                await self._evict(pod, opts.grace_period_seconds)
            except errors.NotFound:
                continue  # gone meanwhile: what we wanted
            except errors.TooManyRequests as exc:
                # A disruption budget refuses for now: try again later.
                blocked.append(f"{name}: {_refusal(exc)}")
                continue
            if name not in evicted:
                evicted.append(name)
        status["evictedPods"] = evicted[-_MAX_LISTED:]
        status["progress"] = drain.progress(evicted, pending)
        if blocked:
            retries = int(status.get("evictionRetries") or 0) + 1
            status["evictionRetries"] = retries
            status["message"] = "eviction refused: " + "; ".join(blocked)
            if retries == 1:
                self.mgr.recorder.warning(obj, "EvictionBlocked", "Drain", status["message"])
            delay = drain.backoff(retries - 1, self.tuning.retry_base, self.tuning.retry_max)
        else:
            status["evictionRetries"] = 0
            status["message"] = f"waiting for {len(pending)} pods to leave: {_names(pending)}"
            delay = self.tuning.poll_interval
        self._set_condition(obj, status, "Unknown", "Draining", status["message"])
        await self._write_status(obj, status)
        # Wake up at the deadline at the latest, so the timeout is reported on time.
        remaining = max(deadline - _now().timestamp(), 0.0)
        return reconcile_mod.Result(requeue_after=min(delay, remaining + 0.05))

    # -- status ----------------------------------------------------------------------------

    def _base_status(
        self, obj: dict[str, Any], status: dict[str, Any], phase: str, now: datetime
    ) -> dict[str, Any]:
        """``status`` moved to ``phase``; entering Running (re)starts the clock, and an
        operation finished in one pass gets its start time too."""
        out = dict(status)
        out["phase"] = phase
        if phase == "Running" or not out.get("startTime"):
            out["startTime"] = conditions.format_time(now)
        out["observedGeneration"] = (obj.get("metadata") or {}).get("generation") or 0
        return out

    def _set_condition(
        self, obj: dict[str, Any], status: dict[str, Any], value: str, reason: str, message: str
    ) -> None:
        conds: list[dict[str, Any]] = [dict(c) for c in status.get("conditions") or []]
        generation = (obj.get("metadata") or {}).get("generation") or 0
        conditions.set_condition(conds, CONDITION, value, reason, message[:32768], generation)
        status["conditions"] = conds

    async def _write_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        if status == (obj.get("status") or {}):
            return  # nothing changed: no write, no watch event
        body = {
            "apiVersion": KIND.api_version,
            "kind": KIND.kind,
            "metadata": {"name": obj["metadata"]["name"]},
            "status": status,
        }
        await self.client.apply_status(body, field_manager=self.tuning.field_manager)

    async def _finish(
        self,
        obj: dict[str, Any],
        status: dict[str, Any],
        reason: str,
        message: str,
        *,
        succeeded: bool = False,
    ) -> reconcile_mod.Result | None:
        """Record the end of the operation (Succeeded or Failed, for good); nothing more
        to do afterwards, so the reconcile's result is None."""
        now = _now()
        phase = "Succeeded" if succeeded else "Failed"
        status = self._base_status(obj, status, phase, now)
        status["completionTime"] = conditions.format_time(now)
        status["message"] = message
        status.pop("evictionRetries", None)
        self._set_condition(
            obj, status, "True" if succeeded else "False", reason or "Succeeded", message
        )
        await self._write_status(obj, status)
        if succeeded:
            self.mgr.recorder.normal(obj, "Succeeded", "NodeOperation", message)
        else:
            log.info("node operation %s failed: %s", obj["metadata"]["name"], message)
            self.mgr.recorder.warning(obj, reason, "NodeOperation", message)
        return None


def _refusal(exc: errors.ApiError) -> str:
    """The budget's own explanation of a 429 when it gave one (it names the budget)."""
    for cause in exc.causes:
        if cause.get("message"):
            return f"{exc.message} ({cause['message']})"
    return exc.message


def setup(mgr: manager.Manager, tuning: Tuning | None = None) -> None:
    """Register the NodeOperation controller with ``mgr``."""
    (
        mgr.builder()
        .named("nodeoperation")
        .for_(nodeoperation.NodeOperation, predicate.GenerationChanged())
        .with_options(max_concurrent_reconciles=4, reconcile_timeout=60)
        .complete(NodeOperationReconciler(mgr, tuning))
    )


CRDS = nodeoperation.CRDS
