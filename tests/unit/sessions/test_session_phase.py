"""Phase derivation from observed children, as a pure function over object dicts."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.operators.sessions import phase


def pod(
    name: str = "p1",
    *,
    node: str | None = "node-1",
    ready: bool = True,
    deleting: bool = False,
    waiting: str | None = None,
    created: str = "2026-01-01T00:00:00Z",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:01:00Z"
    status: dict[str, Any] = {"phase": "Running" if ready else "Pending"}
    status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    if waiting:
        status["containerStatuses"] = [{"state": {"waiting": {"reason": waiting}}}]
    spec = {"nodeName": node} if node else {}
    return {"metadata": meta, "spec": spec, "status": status}


def deployment(replicas: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": "session-s"}, "spec": {"replicas": replicas}}


def derive(desired: str, **kw: Any) -> phase.Observed:
    args: dict[str, Any] = {
        "current_phase": None,
        "deployment": deployment(),
        "pods": [],
        "service": {"metadata": {"name": "session-s"}},
        "home_claim": None,
        "keep_home": False,
    }
    args.update(kw)
    return phase.derive(desired, **args)


def test_running_when_a_pod_is_ready() -> None:
    o = derive("running", pods=[pod("old", ready=False), pod("p1", created="2026-01-02T00:00:00Z")])
    assert (o.phase, o.ready, o.pod_name, o.node_name) == ("Running", True, "p1", "node-1")


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"deployment": None}, "CreatingWorkload"),
        ({}, "WaitingForPod"),
        ({"pods": [pod(node=None, ready=False)]}, "PodUnscheduled"),
        ({"pods": [pod(ready=False, waiting="ImagePullBackOff")]}, "ImagePullBackOff"),
        ({"pods": [pod(ready=False)]}, "PodNotReady"),
        ({"pods": [pod(deleting=True)]}, "WaitingForPod"),
    ],
)
def test_pending_says_what_it_waits_for(kw: dict[str, Any], reason: str) -> None:
    o = derive("running", current_phase="Running", **kw)
    assert (o.phase, o.ready, o.reason) == ("Pending", False, reason)


def test_a_crashed_pod_turns_a_running_session_pending_again() -> None:
    assert derive("running", current_phase="Running", pods=[]).phase == "Pending"


def test_hibernated_only_at_zero_replicas_with_no_pods_left() -> None:
    scaling = derive("hibernated", current_phase="Running", pods=[pod()])
    assert (scaling.phase, scaling.reason) == ("Running", "Hibernating")
    draining = derive(
        "hibernated", current_phase="Running", deployment=deployment(0), pods=[pod(deleting=True)]
    )
    assert (draining.phase, draining.reason) == ("Running", "Hibernating")
    done = derive("hibernated", current_phase="Running", deployment=deployment(0))
    assert (done.phase, done.ready) == ("Hibernated", False)
    assert derive("hibernated", deployment=None).phase == "Hibernated"


def test_terminated_only_once_the_workload_is_released() -> None:
    claim = {"metadata": {"name": "session-s-home"}}
    waiting = derive("terminated", current_phase="Hibernated", deployment=None, home_claim=claim)
    assert waiting.phase == "Hibernated" and "Service" in waiting.message
    assert "home volume claim" in waiting.message
    gone = derive("terminated", deployment=None, service=None)
    assert gone.phase == "Terminated"
    kept = derive("terminated", deployment=None, service=None, home_claim=claim, keep_home=True)
    assert kept.phase == "Terminated" and "home kept" in kept.message
    # A Failed session being terminated does not show as Failed while it goes.
    assert derive("terminated", current_phase="Failed").phase == "Pending"


def test_unknown_desired_state_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown desired state"):
        derive("paused")


def test_storage_status() -> None:
    assert phase.storage_status(False, None)[:2] == (True, "NoHome")
    assert phase.storage_status(True, None)[:2] == (False, "ClaimMissing")
    pending = {"metadata": {"name": "c"}, "status": {"phase": "Pending"}}
    assert phase.storage_status(True, pending)[:2] == (False, "ClaimPending")
    bound = {"metadata": {"name": "c"}, "status": {"phase": "Bound"}}
    assert phase.storage_status(True, bound) == (True, "Bound", "claim c is bound")
