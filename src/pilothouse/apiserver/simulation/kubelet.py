"""The simulated kubelets (one controller for all nodes) and the pod garbage collector.

Design choices:

* A pod bound to an existing node "starts" ``config.pod_start_delay`` seconds after this
  controller first sees it bound (timed with :meth:`.base.Controller.after`; the first-seen
  instants live in memory, so after a restart pods simply start one delay later). It then
  gets the status a kubelet reports: phase Running, the five pod conditions,
  container statuses with ids, hostIP/podIP and startTime; ``qosClass`` and any other
  status field already set are kept.
* Behaviour is chosen with annotations, since there is no container to run:
  ``pilothouse.dev/fail-readiness: "true"`` keeps the pod (and its containers) not Ready --
  it is re-evaluated on every change, so flipping the annotation flips readiness; and
  ``pilothouse.dev/exit-code: "<n>"`` makes the containers exit one more delay after they
  started: phase Succeeded for 0, Failed otherwise (what Jobs need). ``restartPolicy`` is
  not modelled: the exit is final, there are no container restarts or CrashLoopBackOff.
* While the start delay runs (if it is not 0) the pod reports Pending with its containers
  waiting in ``ContainerCreating``, as ``kubectl get pods`` shows on a real cluster.
* Graceful deletion: a pod with a deletionTimestamp is deleted with grace 0 (the kubelet's
  "containers stopped" confirmation) after min(deletionGracePeriodSeconds, pod_start_delay).
* Pod GC: a pod bound to a node that does not exist is deleted with grace 0 -- at once if
  the node was seen deleted, else after :data:`ORPHAN_QUARANTINE` seconds (so pods bound
  to a node that is still being registered, e.g. at server start, are spared). Pods on a
  cordoned or NotReady node keep running; nothing is evicted.
* Pod IPs come from the node's podCIDR (10.244.<node>.0/24), skipping those in use.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

from pilothouse.apiserver import state
from pilothouse.apiserver.simulation import base, nodes
from pilothouse.apiserver.store import records

FAIL_READINESS = "pilothouse.dev/fail-readiness"
EXIT_CODE = "pilothouse.dev/exit-code"
#: Seconds a pod bound to a missing (never seen deleted) node is spared.
ORPHAN_QUARANTINE = 5.0

_COND_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _exit_code(pod: base.Obj) -> int | None:
    value = (pod["metadata"].get("annotations") or {}).get(EXIT_CODE)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return 1


def _container_status(
    pod: base.Obj, c: base.Obj, started_at: str, ready: bool, state_: base.Obj
) -> base.Obj:
    image = c.get("image") or ""
    repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    return {
        "name": c["name"],
        "state": state_,
        "lastState": {},
        "ready": ready,
        "restartCount": 0,
        "image": image,
        "imageID": f"{repo}@sha256:{_digest(image)}",
        "containerID": f"containerd://{_digest(pod['metadata']['uid'], c['name'], started_at)}",
        "started": "running" in state_,
    }


def running_status(
    pod: base.Obj, host_ip: str, pod_ip: str, now: str, exit_code: int | None
) -> base.Obj:
    """The status the kubelet reports for ``pod`` (Running, or terminated with
    ``exit_code``), keeping the fields it already has."""
    old = dict(pod.get("status") or {})
    started = old.get("startTime") or now
    spec = pod.get("spec") or {}
    annotations = pod["metadata"].get("annotations") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    if exit_code is None:
        ready = annotations.get(FAIL_READINESS) != "true"
        phase = "Running"
        state_: base.Obj = {"running": {"startedAt": started}}
    else:
        ready = False
        phase = "Succeeded" if exit_code == 0 else "Failed"
        state_ = {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "startedAt": started,
                "finishedAt": now,
                "containerID": "",
            }
        }
    statuses = []
    for c in spec.get("containers") or []:
        cs = _container_status(pod, c, started, ready, state_)
        if "terminated" in state_:
            cs["state"] = {"terminated": dict(state_["terminated"], containerID=cs["containerID"])}
        statuses.append(cs)
    inits = []
    for c in spec.get("initContainers") or []:
        done = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": started,
                "finishedAt": started,
            }
        }
        cs = _container_status(pod, c, started, True, done)
        cs["state"]["terminated"]["containerID"] = cs["containerID"]
        inits.append(cs)
    conds = [dict(c) for c in old.get("conditions") or []]
    unready = f"containers with unready status: [{' '.join(names)}]"
    want = {
        "PodReadyToStartContainers": ("True", "", ""),
        "Initialized": ("True", "", ""),
        "Ready": ("True", "", "") if ready else ("False", "ContainersNotReady", unready),
        "ContainersReady": ("True", "", "") if ready else ("False", "ContainersNotReady", unready),
    }
    if exit_code is not None:
        reason = "PodCompleted"
        want["Ready"] = want["ContainersReady"] = ("False", reason, "")
        want["PodReadyToStartContainers"] = ("False", "", "")
    for type_, (status, why, msg) in want.items():
        conds = base.set_condition(conds, type_, status, why, msg, now)
    by_type = {c["type"]: c for c in conds}
    ordered = [by_type.pop(t) for t in _COND_ORDER if t in by_type] + list(by_type.values())
    for c in ordered:
        c.setdefault("lastProbeTime", None)
        for k in ("reason", "message"):
            if not c.get(k):
                c.pop(k, None)
    ips = [{"ip": pod_ip}]
    new = dict(old)
    new.update(
        phase=phase,
        conditions=ordered,
        hostIP=host_ip,
        hostIPs=[{"ip": host_ip}],
        podIP=pod_ip,
        podIPs=ips,
        startTime=started,
        containerStatuses=statuses,
    )
    if inits:
        new["initContainerStatuses"] = inits
    return new


def creating_status(pod: base.Obj, host_ip: str, now: str) -> base.Obj:
    """The status while the containers are being created (the start delay)."""
    new = dict(pod.get("status") or {})
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    unready = f"containers with unready status: [{' '.join(names)}]"
    conds = [dict(c) for c in new.get("conditions") or []]
    for type_, status, why, msg in (
        ("PodReadyToStartContainers", "False", "", ""),
        ("Initialized", "True", "", ""),
        ("Ready", "False", "ContainersNotReady", unready),
        ("ContainersReady", "False", "ContainersNotReady", unready),
    ):
        if not any(c.get("type") == type_ for c in conds):
            conds = base.set_condition(conds, type_, status, why, msg, now)
    for c in conds:
        c.setdefault("lastProbeTime", None)
        for k in ("reason", "message"):
            if not c.get(k):
                c.pop(k, None)
    new.update(
        phase="Pending",
        conditions=conds,
        hostIP=host_ip,
        hostIPs=[{"ip": host_ip}],
        startTime=new.get("startTime") or now,
        containerStatuses=[
            {
                "name": c["name"],
                "state": {"waiting": {"reason": "ContainerCreating"}},
                "lastState": {},
                "ready": False,
                "restartCount": 0,
                "image": c.get("image") or "",
                "imageID": "",
                "started": False,
            }
            for c in (pod.get("spec") or {}).get("containers") or []
        ],
    )
    return new


class Kubelet(base.Controller):
    name = "kubelet"
    resource = "pods"
    watches = ("nodes",)
    manager = "kubelet"

    def __init__(self, st: state.ServerState, config: base.SimulationConfig) -> None:
        super().__init__(st, config)
        #: pod uid -> (what is being waited for, monotonic time it was first seen)
        self._seen: dict[tuple[str, str], float] = {}
        self._gone_nodes: set[str] = set()

    def keys_for(self, event: records.Event) -> Iterable[base.Key]:
        rec = event.record
        if rec.group_resource == "pods":
            if event.type == "DELETED":
                uid = rec.uid
                for k in [k for k in self._seen if k[0] == uid]:
                    del self._seen[k]
                return []
            return [(rec.namespace, rec.name)]
        if event.type == "DELETED":
            self._gone_nodes.add(rec.name)
        else:
            self._gone_nodes.discard(rec.name)
        return [
            (r.namespace, r.name)
            for r in self.st.store.iter("pods")
            if (r.fields or {}).get("spec.nodeName") == rec.name
        ]

    def _waited(self, uid: str, what: str, seconds: float, key: base.Key) -> bool:
        """Whether ``seconds`` have passed since ``what`` was first seen for the pod;
        if not, requeue ``key`` for when they will have."""
        first = self._seen.setdefault((uid, what), time.monotonic())
        left = first + seconds - time.monotonic()
        if left <= 0:
            return True
        self.after(key, left)
        return False

    async def reconcile(self, key: base.Key) -> None:
        pod = self.get("pods", *key)
        if pod is None:
            return
        meta, spec = pod["metadata"], pod.get("spec") or {}
        node_name = spec.get("nodeName")
        if not node_name:
            return
        uid = meta["uid"]
        node = self.get("nodes", "", node_name)
        if node is None:
            wait = 0.0 if node_name in self._gone_nodes else ORPHAN_QUARANTINE
            if self._waited(uid, "orphan", wait, key):
                await self.delete("pods", *key, grace=0, uid=uid)
            return
        self._seen.pop((uid, "orphan"), None)
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds") or 0
            if self._waited(uid, "stop", min(float(grace), self.config.pod_start_delay), key):
                await self.delete("pods", *key, grace=0, uid=uid)
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        delay = self.config.pod_start_delay
        running = status.get("phase") == "Running"
        host_ip = _node_ip(node)
        if not running and not self._waited(uid, "start", delay, key):
            await self.update_status("pods", pod, creating_status(pod, host_ip, self.now()))
            return
        exit_code = _exit_code(pod)
        if exit_code is not None and not (running and self._waited(uid, "exit", delay, key)):
            exit_code = None  # first Running, then exit one delay later
        pod_ip = status.get("podIP") or (
            host_ip if spec.get("hostNetwork") else self._allocate_ip(node_name)
        )
        new = running_status(pod, host_ip, pod_ip, self.now(), exit_code)
        await self.update_status("pods", pod, new)

    def _allocate_ip(self, node_name: str) -> str:
        # The stored field set has the pod IP: no decoding of every pod per start.
        used = {(r.fields or {}).get("status.podIP") for r in self.st.store.iter("pods")}
        idx = nodes.node_index(node_name) or (sum(node_name.encode()) % 200 + 50)
        for host in range(2, 255):
            ip = f"10.244.{idx % 256}.{host}"
            if ip not in used:
                return ip
        for third in range(256):  # the node's range is full: any free address
            for host in range(2, 255):
                ip = f"10.244.{third}.{host}"
                if ip not in used:
                    return ip
        return "10.244.255.254"


def _node_ip(node: base.Obj) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP":
            return str(a.get("address"))
    return nodes.internal_ip(node["metadata"]["name"])
