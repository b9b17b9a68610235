"""The Pod printer, checked against kube-apiserver's printers_test.go cases (TestPrintPod,
TestPrintPodWithRestartableInitContainer, TestPrintPodwide). Objects are the versioned JSON
the server stores."""

from __future__ import annotations

from typing import Any

import pytest
from printer_rows import ago, cells, narrow

from pilothouse.apiserver import printers


def pod(
    name: str,
    *,
    containers: int = 1,
    init: list[dict[str, Any]] | int = 0,
    status: dict[str, Any],
    meta: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    init_specs = [{"name": f"init{i}"} for i in range(init)] if isinstance(init, int) else init
    return {
        "metadata": {"name": name, **(meta or {})},
        "spec": {
            "containers": [{"name": f"c{i}"} for i in range(containers)],
            "initContainers": init_specs,
            **spec,
        },
        "status": status,
    }


RUNNING: dict[str, Any] = {"running": {}}


def cs(
    ready: bool = False,
    restarts: int = 0,
    state: Any = None,
    finished: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {"ready": ready, "restartCount": restarts, "state": state or {}}
    if finished is not None:
        status["lastState"] = {"terminated": {"finishedAt": finished}}
    return {**status, **extra}


SIDECARS = [{"name": "si1", "restartPolicy": "Always"}, {"name": "si2", "restartPolicy": "Always"}]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            pod(
                "test1",
                containers=2,
                status={
                    "phase": "podPhase",
                    "containerStatuses": [cs(True, 3, RUNNING), cs(restarts=3)],
                },
            ),
            ["test1", "1/2", "podPhase", "6", "<unknown>"],
        ),
        (
            pod(
                "test2",
                containers=2,
                status={
                    "phase": "podPhase",
                    "containerStatuses": [
                        cs(True, 3, RUNNING),
                        cs(restarts=3, state={"waiting": {"reason": "CrashLoopBackOff"}}),
                    ],
                },
            ),
            ["test2", "1/2", "CrashLoopBackOff", "6", "<unknown>"],
        ),
        (
            pod(
                "test3",
                containers=2,
                status={
                    "phase": "podPhase",
                    "containerStatuses": [
                        cs(restarts=3, state={"waiting": {"reason": "ContainerWaitingReason"}}),
                        cs(
                            restarts=3,
                            state={"terminated": {"reason": "ContainerTerminatedReason"}},
                        ),
                    ],
                },
            ),
            ["test3", "0/2", "ContainerWaitingReason", "6", "<unknown>"],
        ),
        (
            pod(
                "test4",
                containers=2,
                status={
                    "phase": "podPhase",
                    "containerStatuses": [cs(True, 3, RUNNING), cs(True, 3)],
                },
            ),
            ["test4", "1/2", "podPhase", "6", "<unknown>"],
        ),
        (
            pod(
                "test5",
                containers=2,
                status={
                    "reason": "podReason",
                    "phase": "podPhase",
                    "containerStatuses": [cs(True, 3, RUNNING), cs(True, 3)],
                },
            ),
            ["test5", "1/2", "podReason", "6", "<unknown>"],
        ),
        (
            pod(
                "test6",
                containers=2,
                status={
                    "phase": "Running",
                    "containerStatuses": [
                        cs(True, 3, {"terminated": {"reason": "Completed", "exitCode": 0}}),
                        cs(True, 3, RUNNING),
                    ],
                },
            ),
            ["test6", "1/2", "NotReady", "6", "<unknown>"],
        ),
        (
            pod(
                "test6b",
                containers=2,
                status={
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [
                        cs(True, 3, {"terminated": {"reason": "Completed"}}),
                        cs(True, 3, RUNNING),
                    ],
                },
            ),
            ["test6b", "1/2", "Running", "6", "<unknown>"],
        ),
        (
            pod(
                "test7",
                init=1,
                status={
                    "phase": "podPhase",
                    "initContainerStatuses": [cs(False, 3, RUNNING, ago(seconds=10))],
                    "containerStatuses": [cs(state={"waiting": {}})],
                },
            ),
            ["test7", "0/1", "Init:0/1", "3 (10s ago)", "<unknown>"],
        ),
        (
            pod(
                "test9",
                init=2,
                status={
                    "phase": "podPhase",
                    "initContainerStatuses": [
                        cs(state={"terminated": {}}),
                        cs(False, 3, RUNNING, ago(seconds=10)),
                    ],
                    "containerStatuses": [cs(state={"waiting": {}})],
                },
            ),
            ["test9", "0/1", "Init:1/2", "3 (10s ago)", "<unknown>"],
        ),
        (
            pod(
                "test10",
                init=2,
                status={
                    "phase": "podPhase",
                    "initContainerStatuses": [
                        cs(False, 2, {"terminated": {}}, ago(minutes=2)),
                        cs(False, 3, RUNNING, ago(seconds=10)),
                    ],
                    "containerStatuses": [cs(state={"waiting": {}})],
                },
            ),
            ["test10", "0/1", "Init:1/2", "5 (10s ago)", "<unknown>"],
        ),
        (
            pod(
                "test11",
                init=1,
                status={
                    "phase": "Running",
                    "initContainerStatuses": [cs(False, 2, {"terminated": {}}, ago(minutes=2))],
                    "containerStatuses": [cs(False, 4, RUNNING, ago(seconds=20))],
                },
            ),
            ["test11", "0/1", "Running", "4 (20s ago)", "<unknown>"],
        ),
        (
            pod(
                "test12",
                status={
                    "phase": "Running",
                    "containerStatuses": [cs(True, 3, RUNNING, ago(days=5))],
                },
            ),
            ["test12", "1/1", "Running", "3 (5d ago)", "<unknown>"],
        ),
        (
            pod(
                "test14",
                containers=2,
                status={
                    "phase": "Running",
                    "containerStatuses": [
                        cs(True, 6, RUNNING, ago(days=5)),
                        cs(True, 3, RUNNING, ago(days=20)),
                    ],
                },
            ),
            ["test14", "2/2", "Running", "9 (5d ago)", "<unknown>"],
        ),
        (
            pod(
                "test15",
                containers=2,
                status={
                    "phase": "podPhase",
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                    ],
                },
            ),
            ["test15", "0/2", "SchedulingGated", "0", "<unknown>"],
        ),
        (
            pod(
                "test17",
                status={
                    "phase": "Failed",
                    "containerStatuses": [
                        cs(state={"terminated": {"reason": "Error", "exitCode": 1}})
                    ],
                },
            ),
            ["test17", "0/1", "Error", "0", "<unknown>"],
        ),
        (
            pod(
                "test18",
                meta={"deletionTimestamp": ago(seconds=10)},
                status={
                    "phase": "Succeeded",
                    "containerStatuses": [cs(state={"terminated": {"reason": "Completed"}})],
                },
            ),
            ["test18", "0/1", "Completed", "0", "<unknown>"],
        ),
        (
            pod(
                "test19",
                meta={"deletionTimestamp": ago(seconds=10)},
                status={"phase": "Running", "containerStatuses": [cs(state=RUNNING)]},
            ),
            ["test19", "0/1", "Terminating", "0", "<unknown>"],
        ),
        (
            pod("test20", meta={"deletionTimestamp": ago(seconds=10)}, status={"phase": "Pending"}),
            ["test20", "0/1", "Terminating", "0", "<unknown>"],
        ),
        (
            pod(
                "lost",
                meta={"deletionTimestamp": ago(seconds=10)},
                status={"phase": "Running", "reason": "NodeLost"},
            ),
            ["lost", "0/1", "Unknown", "0", "<unknown>"],
        ),
        (
            pod(
                "creating",
                status={
                    "phase": "Pending",
                    "containerStatuses": [cs(state={"waiting": {"reason": "ContainerCreating"}})],
                },
            ),
            ["creating", "0/1", "ContainerCreating", "0", "<unknown>"],
        ),
        (
            pod(
                "signal",
                status={
                    "phase": "Running",
                    "containerStatuses": [cs(state={"terminated": {"signal": 9, "exitCode": 137}})],
                },
            ),
            ["signal", "0/1", "Signal:9", "0", "<unknown>"],
        ),
        (
            pod(
                "exit",
                init=1,
                status={
                    "phase": "Pending",
                    "initContainerStatuses": [cs(state={"terminated": {"exitCode": 2}})],
                },
            ),
            ["exit", "0/1", "Init:ExitCode:2", "0", "<unknown>"],
        ),
        (
            pod(
                "initwait",
                init=1,
                status={
                    "phase": "Pending",
                    "initContainerStatuses": [
                        cs(state={"waiting": {"reason": "ImagePullBackOff"}})
                    ],
                },
            ),
            ["initwait", "0/1", "Init:ImagePullBackOff", "0", "<unknown>"],
        ),
    ],
)
def test_pod(obj: dict[str, Any], expected: list[Any]) -> None:
    assert narrow("", "pods", obj) == expected


@pytest.mark.parametrize(
    ("statuses", "phase", "initialized", "expected"),
    [
        (
            [
                cs(False, 3, RUNNING, ago(seconds=10), name="si1", started=False),
                cs(state={"waiting": {}}, name="si2", started=False),
            ],
            "Pending",
            "False",
            ["0/3", "Init:0/2", "3 (10s ago)"],
        ),
        (
            [
                cs(False, 3, RUNNING, ago(seconds=10), name="si1", started=True),
                cs(state=RUNNING, name="si2", started=False),
            ],
            "Pending",
            "False",
            ["0/3", "Init:1/2", "3 (10s ago)"],
        ),
    ],
)
def test_pod_with_sidecars_initializing(
    statuses: list[dict[str, Any]], phase: str, initialized: str, expected: list[str]
) -> None:
    obj = pod(
        "t",
        init=SIDECARS,
        status={
            "phase": phase,
            "initContainerStatuses": statuses,
            "containerStatuses": [cs(state={"waiting": {}})],
            "conditions": [{"type": "Initialized", "status": initialized}],
        },
    )
    assert narrow("", "pods", obj)[1:4] == expected


def test_pod_with_started_sidecars() -> None:
    obj = pod(
        "t",
        init=SIDECARS,
        status={
            "phase": "Running",
            "initContainerStatuses": [
                cs(False, 3, RUNNING, ago(seconds=10), name="si1", started=True),
                cs(False, 0, RUNNING, name="si2", started=True),
            ],
            "containerStatuses": [cs(True, 4, RUNNING, ago(seconds=20))],
            "conditions": [{"type": "Initialized", "status": "True"}],
        },
    )
    assert narrow("", "pods", obj)[1:4] == ["1/3", "Running", "7 (10s ago)"]


def test_pod_with_failed_sidecars_and_completed_container() -> None:
    failed = {"terminated": {"reason": "Error", "exitCode": 137}}
    obj = pod(
        "t",
        init=SIDECARS,
        status={
            "phase": "Succeeded",
            "initContainerStatuses": [
                cs(False, 3, failed, ago(seconds=10), name="si1", started=False),
                cs(False, 0, failed, name="si2", started=False),
            ],
            "containerStatuses": [
                cs(False, 4, {"terminated": {"reason": "Completed"}}, ago(seconds=20))
            ],
            "conditions": [{"type": "Initialized", "status": "True"}],
        },
    )
    assert narrow("", "pods", obj)[1:4] == ["0/3", "Completed", "7 (10s ago)"]
    printer = printers.printer_for("", "pods")
    assert printer is not None and printer.conditions is not None
    assert printer.conditions(obj) == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]


def test_pod_statuses_for_unknown_containers() -> None:
    obj = pod(
        "test4",
        init=[{"name": "init1"}, {"name": "sidecar1", "restartPolicy": "Always"}],
        status={
            "phase": "Running",
            "initContainerStatuses": [
                {"name": "initinvalid"},
                {"name": "init1"},
                {"name": "sidecar1"},
            ],
            "containerStatuses": [{"name": "containerinvalid"}, {"name": "container1"}],
        },
    )
    assert narrow("", "pods", obj) == ["test4", "0/2", "Init:0/2", "0", "<unknown>"]


def test_pod_wide_columns() -> None:
    obj = pod(
        "test1",
        containers=2,
        nodeName="test1",
        readinessGates=[{"conditionType": f"condition{i}"} for i in (1, 2, 3)],
        status={
            "phase": "podPhase",
            "podIPs": [{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}],
            "conditions": [
                {"type": "condition1", "status": "False"},
                {"type": "condition2", "status": "True"},
            ],
            "containerStatuses": [cs(True, 3, RUNNING), cs(restarts=3)],
            "nominatedNodeName": "node1",
        },
        meta={"creationTimestamp": ago(hours=26)},
    )
    assert cells("", "pods", obj) == [
        "test1",
        "1/2",
        "podPhase",
        "6",
        "26h",
        "1.1.1.1",
        "test1",
        "node1",
        "1/3",
    ]
    bare = pod("test2", status={"phase": "Pending"})
    assert cells("", "pods", bare)[5:] == ["<none>", "<none>", "<none>", "<none>"]


def test_pod_columns() -> None:
    printer = printers.printer_for("", "pods")
    assert printer is not None
    defs = [c.definition() for c in printer.columns]
    assert [(d["name"], d["priority"]) for d in defs] == [
        ("Name", 0),
        ("Ready", 0),
        ("Status", 0),
        ("Restarts", 0),
        ("Age", 0),
        ("IP", 1),
        ("Node", 1),
        ("Nominated Node", 1),
        ("Readiness Gates", 1),
    ]
    assert defs[0]["format"] == "name" and defs[0]["description"].startswith("Name must be unique")
    assert defs[5]["description"].startswith("podIP address allocated to the pod")
