"""The simulated Job controller (kube-controller-manager's ``job-controller``) and the TTL
controller's job clean-up (``ttlSecondsAfterFinished``).

Design choices:

* Level-triggered and stateless: every reconcile recounts the job's pods (its controller
  reference). Finished pods are kept, so ``succeeded``/``failed`` are plain counts of pods in
  phase Succeeded/Failed; we do not use the ``uncountedTerminatedPods`` finalizer protocol
  (nothing here removes finished pods behind the controller's back except a user).
* Pods are created with ``generateName: <job>-`` (``<job>-<index>-`` when Indexed), the
  ``batch.kubernetes.io/job-name``/``controller-uid`` labels (and the legacy unprefixed ones)
  and, when Indexed, the ``batch.kubernetes.io/job-completion-index`` annotation and label,
  ``spec.hostname`` and the ``JOB_COMPLETION_INDEX`` env var, as the real controller does.
* Failed pods are replaced immediately (no exponential pod-failure backoff) so simulated
  failures reach ``backoffLimit`` quickly; a terminal job sets the interim condition
  (FailureTarget / SuccessCriteriaMet) and the final one (Failed / Complete) in one write,
  after deleting its remaining active pods.
* Deadlines (``activeDeadlineSeconds``, ``ttlSecondsAfterFinished``) use the server clock and
  :meth:`Controller.after` to wake up when they expire.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from pilothouse.apiserver.printers.format import parse_time
from pilothouse.apiserver.simulation import base

RESOURCE = "jobs.batch"
INDEX_KEY = "batch.kubernetes.io/job-completion-index"


def condition_true(obj: base.Obj, type_: str) -> bool:
    return any(
        c.get("type") == type_ and c.get("status") == "True"
        for c in (obj.get("status") or {}).get("conditions") or []
    )


def pod_ready(pod: base.Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _index(pod: base.Obj) -> int | None:
    raw = (pod["metadata"].get("annotations") or {}).get(INDEX_KEY)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def format_indexes(indexes: set[int]) -> str:
    """``completedIndexes`` syntax: sorted, with runs collapsed (``1,3-5``)."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


class JobController(base.Controller):
    name = "job-controller"
    resource = RESOURCE
    watches = ("pods",)

    def __init__(self, st: Any, config: base.SimulationConfig) -> None:
        super().__init__(st, config)

    async def reconcile(self, key: base.Key) -> None:
        job = self.get(RESOURCE, *key)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        spec: dict[str, Any] = job.get("spec") or {}
        status: dict[str, Any] = copy.deepcopy(job.get("status") or {})
        now = self.st.clock()
        now_s = self.now()
        pods = self.owned_by("pods", job)
        active = [
            p
            for p in pods
            if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not p["metadata"].get("deletionTimestamp")
        ]
        succeeded_pods = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
        failed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Failed")
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        parallelism = spec.get("parallelism", 1)
        if parallelism is None:
            parallelism = 1
        done_indexes = {
            i
            for p in succeeded_pods
            if (i := _index(p)) is not None and (completions is None or i < completions)
        }
        succeeded = len(done_indexes) if indexed else len(succeeded_pods)
        conds: list[base.Obj] = list(status.get("conditions") or [])

        if condition_true(job, "Complete") or condition_true(job, "Failed"):
            await self._after_finish(job, status, key, now)
            return

        # Terminal decisions.
        verdict: tuple[str, str, str] | None = None
        backoff = spec.get("backoffLimit", 6)
        if backoff is not None and failed > backoff:
            verdict = (
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        start = parse_time(status.get("startTime"))
        deadline = spec.get("activeDeadlineSeconds")
        if verdict is None and deadline is not None and start is not None:
            left = (start + dt.timedelta(seconds=deadline) - now).total_seconds()
            if left <= 0:
                verdict = (
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            elif not spec.get("suspend"):
                self.after(key, left)
        reached = (
            succeeded >= completions if completions is not None else succeeded > 0 and not active
        )
        if verdict is None and reached:
            verdict = (
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )

        if verdict is not None:
            for p in active:
                m = p["metadata"]
                await self.delete("pods", m["namespace"], m["name"], uid=m["uid"])
            final, reason, message = verdict
            interim = "FailureTarget" if final == "Failed" else "SuccessCriteriaMet"
            conds = base.set_condition(conds, interim, "True", reason, message, now_s)
            conds = base.set_condition(conds, final, "True", reason, message, now_s)
            for c in conds:
                c.setdefault("lastProbeTime", c.get("lastTransitionTime"))
            if final == "Complete":
                status["completionTime"] = now_s
            active = []
        elif spec.get("suspend"):
            for p in active:
                m = p["metadata"]
                await self.delete("pods", m["namespace"], m["name"], uid=m["uid"])
            active = []
            conds = base.set_condition(
                conds, "Suspended", "True", "JobSuspended", "Job suspended", now_s
            )
        else:
            if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conds):
                conds = base.set_condition(
                    conds, "Suspended", "False", "JobResumed", "Job resumed", now_s
                )
                status["startTime"] = now_s
            status.setdefault("startTime", now_s)
            if deadline is not None and "startTime" not in (job.get("status") or {}):
                self.after(key, float(deadline))
            active = await self._scale(job, spec, active, done_indexes, succeeded, indexed)

        status.update(
            active=len(active),
            ready=sum(1 for p in active if pod_ready(p)),
            succeeded=succeeded,
            failed=failed,
        )
        if indexed:
            status["completedIndexes"] = format_indexes(done_indexes)
        for k in ("active", "succeeded", "failed"):
            if not status[k]:
                status.pop(k)
        if conds:
            status["conditions"] = conds
        if "uncountedTerminatedPods" not in status:
            status["uncountedTerminatedPods"] = {}
        stored = await self.update_status(RESOURCE, job, status)
        if verdict is not None and stored is not None:
            await self._after_finish(stored, status, key, now)

    async def _scale(
        self,
        job: base.Obj,
        spec: dict[str, Any],
        active: list[base.Obj],
        done_indexes: set[int],
        succeeded: int,
        indexed: bool,
    ) -> list[base.Obj]:
        """Create pods up to ``parallelism`` (or the remaining completions)."""
        parallelism = spec.get("parallelism", 1)
        parallelism = 1 if parallelism is None else int(parallelism)
        completions = spec.get("completions")
        if indexed and completions is not None:
            busy = {_index(p) for p in active}
            todo = [i for i in range(completions) if i not in done_indexes and i not in busy]
            want = max(min(parallelism - len(active), len(todo)), 0)
            for i in todo[:want]:
                pod = await self._create_pod(job, i)
                if pod is not None:
                    active.append(pod)
            return active
        if completions is None:
            target = 0 if succeeded > 0 else parallelism
        else:
            target = min(parallelism, completions - succeeded)
        for _ in range(max(target - len(active), 0)):
            pod = await self._create_pod(job, None)
            if pod is not None:
                active.append(pod)
        return active

    async def _create_pod(self, job: base.Obj, index: int | None) -> base.Obj | None:
        meta = job["metadata"]
        tmpl = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        tmeta = tmpl.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        labels.update(
            {
                "batch.kubernetes.io/job-name": meta["name"],
                "job-name": meta["name"],
                "batch.kubernetes.io/controller-uid": meta["uid"],
                "controller-uid": meta["uid"],
            }
        )
        annotations = dict(tmeta.get("annotations") or {})
        pod_spec = tmpl.get("spec") or {}
        prefix = f"{meta['name']}-"
        if index is not None:
            annotations[INDEX_KEY] = str(index)
            labels[INDEX_KEY] = str(index)
            pod_spec["hostname"] = f"{meta['name']}-{index}"
            prefix = f"{meta['name']}-{index}-"
            for c in pod_spec.get("containers") or []:
                env = [e for e in c.get("env") or [] if e.get("name") != "JOB_COMPLETION_INDEX"]
                env.append(
                    {
                        "name": "JOB_COMPLETION_INDEX",
                        "valueFrom": {
                            "fieldRef": {
                                "apiVersion": "v1",
                                "fieldPath": f"metadata.annotations['{INDEX_KEY}']",
                            }
                        },
                    }
                )
                c["env"] = env
        pod_meta: base.Obj = {
            "generateName": prefix,
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [base.controller_ref(job, "batch/v1", "Job")],
        }
        if annotations:
            pod_meta["annotations"] = annotations
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": pod_spec}
        return await self.create("pods", meta["namespace"], pod)

    async def _after_finish(
        self, job: base.Obj, status: dict[str, Any], key: base.Key, now: dt.datetime
    ) -> None:
        """ttlSecondsAfterFinished: delete the finished job once its TTL has passed."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        finished = parse_time(status.get("completionTime"))
        for c in status.get("conditions") or []:
            if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
                finished = finished or parse_time(c.get("lastTransitionTime"))
        if finished is None:
            return
        left = (finished + dt.timedelta(seconds=ttl) - now).total_seconds()
        if left > 0:
            self.after(key, left)
            return
        m = job["metadata"]
        await self.delete(RESOURCE, m["namespace"], m["name"], uid=m["uid"], policy="Foreground")
