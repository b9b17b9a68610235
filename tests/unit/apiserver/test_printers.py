"""Built-in printers, checked against kube-apiserver's printers_test.go cases and
``duration.HumanDuration``. Objects are the versioned JSON the server stores."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pilothouse.apiserver import printers

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def ago(**delta: float) -> str:
    return (NOW - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(group: str, resource: str, obj: dict[str, Any]) -> list[Any]:
    printer = printers.printer_for(group, resource)
    assert printer is not None
    row = printer.cells(obj, NOW)
    assert len(row) == len(printer.columns)
    return row


def narrow(group: str, resource: str, obj: dict[str, Any]) -> list[Any]:
    """The priority-0 cells, what plain ``kubectl get`` shows."""
    printer = printers.printer_for(group, resource)
    assert printer is not None
    return [
        c
        for c, col in zip(cells(group, resource, obj), printer.columns, strict=True)
        if col.priority == 0
    ]


# -- human_duration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1.9, "0s"),
        (0, "0s"),
        (1, "1s"),
        (70, "70s"),
        (119.9, "119s"),
        (120, "2m"),
        (190, "3m10s"),
        (599, "9m59s"),
        (600, "10m"),
        (70 * 60, "70m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 15 * 60, "3h15m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (49 * 3600, "2d1h"),
        ((8 * 24 + 2) * 3600, "8d"),
        (367 * 24 * 3600, "367d"),
        ((365 * 2 * 24 + 25) * 3600, "2y1d"),
        (365 * 2 * 24 * 3600, "2y"),
        ((365 * 8 * 24 + 2) * 3600, "8y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert printers.human_duration(seconds) == text


def test_since_and_parse_time() -> None:
    assert printers.since(ago(seconds=5), NOW) == "5s"
    assert printers.since("2024-05-01T13:00:00+02:00", NOW) == "60m"  # 11:00Z
    assert printers.since("2024-05-01T11:59:58.123456Z", NOW) == "1s"
    assert printers.since(None, NOW) == "<unknown>"
    assert printers.since("yesterday", NOW) == "<unknown>"
    assert printers.parse_time("2024-02-30T00:00:00Z") is None
    naive = NOW.replace(tzinfo=None)
    assert printers.since(ago(minutes=3), naive) == "3m"


# -- pods (TestPrintPod, TestPrintPodWithRestartableInitContainer, TestPrintPodwide) -------


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


# -- apps and batch ------------------------------------------------------------------------

TEMPLATE = {
    "spec": {"containers": [{"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}]}
}


def test_deployment() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "d", "creationTimestamp": ago(minutes=5)},
        "spec": {
            "replicas": 3,
            "template": TEMPLATE,
            "selector": {
                "matchLabels": {"app": "web", "tier": "fe"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}],
            },
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert cells("apps", "deployments", obj) == [
        "d",
        "2/3",
        3,
        2,
        "5m",
        "web,log",
        "nginx,busybox",
        "app=web,env in (dev,prod),tier=fe",
    ]
    defaulted = {"metadata": {"name": "e"}, "spec": {"selector": {}}}
    assert cells("apps", "deployments", defaulted)[1:4] == ["0/1", 0, 0]
    assert cells("apps", "deployments", defaulted)[-1] == ""
    bad = {
        "metadata": {"name": "b"},
        "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Has"}]}},
    }
    assert cells("apps", "deployments", bad)[-1] == "<invalid>"


def test_replica_set_stateful_set_daemon_set() -> None:
    rs: dict[str, Any] = {
        "metadata": {"name": "rs"},
        "spec": {"replicas": 2, "template": TEMPLATE, "selector": {"matchLabels": {"app": "a"}}},
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    assert cells("apps", "replicasets", rs) == [
        "rs",
        2,
        2,
        1,
        "<unknown>",
        "web,log",
        "nginx,busybox",
        "app=a",
    ]
    rc: dict[str, Any] = {
        "metadata": {"name": "rc"},
        "spec": {"replicas": 1, "selector": {"app": "a"}},
    }
    assert cells("", "replicationcontrollers", rc) == ["rc", 1, 0, 0, "<unknown>", "", "", "app=a"]
    sts: dict[str, Any] = {
        "metadata": {"name": "s"},
        "spec": {"replicas": 3, "template": TEMPLATE},
        "status": {"readyReplicas": 3},
    }
    assert narrow("apps", "statefulsets", sts) == ["s", "3/3", "<unknown>"]
    ds: dict[str, Any] = {
        "metadata": {"name": "ds"},
        "spec": {
            "template": {"spec": {"nodeSelector": {"os": "linux"}, "containers": []}},
            "selector": {"matchLabels": {"app": "d"}},
        },
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    assert cells("apps", "daemonsets", ds) == [
        "ds",
        3,
        3,
        2,
        3,
        2,
        "os=linux",
        "<unknown>",
        "",
        "",
        "app=d",
    ]
    ds["spec"] = {}
    assert cells("apps", "daemonsets", ds)[6] == "<none>"
    assert cells("apps", "daemonsets", ds)[-1] == "<none>"


@pytest.mark.parametrize(
    ("spec", "status", "meta", "expected"),
    [
        (
            {"completions": 1},
            {"succeeded": 0, "startTime": ago(seconds=30)},
            {},
            ["Running", "0/1", "30s"],
        ),
        (
            {"completions": 3},
            {
                "succeeded": 3,
                "startTime": ago(minutes=10),
                "completionTime": ago(minutes=7),
                "conditions": [{"type": "Complete", "status": "True"}],
            },
            {},
            ["Complete", "3/3", "3m"],
        ),
        ({"parallelism": 2}, {"succeeded": 1}, {}, ["Running", "1/1 of 2", ""]),
        ({}, {"conditions": [{"type": "Failed", "status": "True"}]}, {}, ["Failed", "0/1", ""]),
        ({}, {}, {"deletionTimestamp": ago(seconds=1)}, ["Terminating", "0/1", ""]),
        (
            {},
            {"conditions": [{"type": "Suspended", "status": "True"}]},
            {},
            ["Suspended", "0/1", ""],
        ),
        (
            {},
            {"conditions": [{"type": "FailureTarget", "status": "True"}]},
            {},
            ["FailureTarget", "0/1", ""],
        ),
        ({}, {"conditions": [{"type": "Complete", "status": "False"}]}, {}, ["Running", "0/1", ""]),
    ],
)
def test_job(
    spec: dict[str, Any], status: dict[str, Any], meta: dict[str, Any], expected: list[str]
) -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "j", **meta},
        "spec": {"template": TEMPLATE, **spec},
        "status": status,
    }
    assert cells("batch", "jobs", obj)[1:4] == expected


def test_job_columns_and_wide_cells() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "j"},
        "spec": {
            "template": TEMPLATE,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}},
        },
    }
    assert cells("batch", "jobs", obj)[5:] == [
        "web,log",
        "nginx,busybox",
        "batch.kubernetes.io/controller-uid=u1",
    ]
    printer = printers.printer_for("batch", "jobs")
    assert printer is not None
    assert [c.name for c in printer.columns if c.priority == 0] == [
        "Name",
        "Status",
        "Completions",
        "Duration",
        "Age",
    ]


def test_cron_job() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "cj", "creationTimestamp": ago(days=3)},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": TEMPLATE}}},
        "status": {"active": [{"name": "j1"}], "lastScheduleTime": ago(minutes=4)},
    }
    assert cells("batch", "cronjobs", obj) == [
        "cj",
        "*/5 * * * *",
        "<none>",
        "False",
        1,
        "4m",
        "3d",
        "web,log",
        "nginx,busybox",
        "<none>",
    ]
    obj["spec"].update(suspend=True, timeZone="Etc/UTC")
    obj["status"] = {}
    assert cells("batch", "cronjobs", obj)[2:6] == ["Etc/UTC", "True", 0, "<none>"]


def test_controller_revision() -> None:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "web-7d",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}
            ],
        },
        "revision": 2,
    }
    assert cells("apps", "controllerrevisions", obj) == [
        "web-7d",
        "statefulset.apps/web",
        2,
        "<unknown>",
    ]
    obj["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": True}
    ]
    assert cells("apps", "controllerrevisions", obj)[1] == "pod/p"
    obj["metadata"]["ownerReferences"] = []
    assert cells("apps", "controllerrevisions", obj)[1] == "<none>"


def _hpa(metrics: list[dict[str, Any]], current: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "h"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": metrics,
        },
        "status": {"currentReplicas": 3, "currentMetrics": current},
    }


CPU_UTIL = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}


@pytest.mark.parametrize(
    ("metrics", "current", "targets"),
    [
        ([], [], "<none>"),
        ([CPU_UTIL], [], "cpu: <unknown>/80%"),
        (
            [CPU_UTIL],
            [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "current": {"averageUtilization": 45, "averageValue": "100m"},
                    },
                }
            ],
            "cpu: 45%/80%",
        ),
        (
            [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "100Mi"},
                    },
                }
            ],
            [{"type": "Resource", "resource": {"current": {"averageValue": "50Mi"}}}],
            "memory: 50Mi/100Mi",
        ),
        (
            [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": "qps"},
                        "target": {"type": "AverageValue", "averageValue": "10"},
                    },
                }
            ],
            [],
            "<unknown>/10",
        ),
        (
            [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": "q"},
                        "target": {"type": "AverageValue", "averageValue": "30"},
                    },
                }
            ],
            [{"type": "External", "external": {"current": {"averageValue": "12"}}}],
            "12/30 (avg)",
        ),
        (
            [{"type": "Object", "object": {"target": {"type": "Value", "value": "5"}}}],
            [{"type": "Object", "object": {"current": {"value": "7"}}}],
            "7/5",
        ),
        (
            [CPU_UTIL, CPU_UTIL, CPU_UTIL, {"type": "Weird"}],
            [],
            "cpu: <unknown>/80%, cpu: <unknown>/80% + 2 more...",
        ),
    ],
)
def test_hpa_targets(
    metrics: list[dict[str, Any]], current: list[dict[str, Any]], targets: str
) -> None:
    assert cells("autoscaling", "horizontalpodautoscalers", _hpa(metrics, current)) == [
        "h",
        "Deployment/web",
        targets,
        "1",
        10,
        3,
        "<unknown>",
    ]


def test_pod_disruption_budget() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "pdb"},
        "spec": {"minAvailable": "50%"},
        "status": {"disruptionsAllowed": 1},
    }
    assert cells("policy", "poddisruptionbudgets", obj) == ["pdb", "50%", "N/A", 1, "<unknown>"]
    obj["spec"] = {"maxUnavailable": 1}
    assert cells("policy", "poddisruptionbudgets", obj)[1:3] == ["N/A", "1"]


# -- core, networking, cluster -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (
            {
                "type": "ClusterIP",
                "clusterIP": "10.0.0.1",
                "clusterIPs": ["10.0.0.1"],
                "ports": [{"port": 80, "protocol": "TCP"}],
                "selector": {"app": "web"},
            },
            {},
            ["ClusterIP", "10.0.0.1", "<none>", "80/TCP", "app=web"],
        ),
        (
            {"clusterIP": "None", "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]},
            {},
            ["ClusterIP", "None", "<none>", "53/UDP,53/TCP", "<none>"],
        ),
        (
            {
                "type": "NodePort",
                "clusterIPs": ["10.0.0.2"],
                "externalIPs": ["1.2.3.4"],
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
            },
            {},
            ["NodePort", "10.0.0.2", "1.2.3.4", "80:30080/TCP", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "10.0.0.3"},
            {},
            ["LoadBalancer", "10.0.0.3", "<pending>", "<none>", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "10.0.0.3", "externalIPs": ["9.9.9.9"]},
            {"loadBalancer": {"ingress": [{"ip": "5.5.5.5"}, {"hostname": "lb.example.com"}]}},
            ["LoadBalancer", "10.0.0.3", "5.5.5.5,lb.example.com,9.9.9.9", "<none>", "<none>"],
        ),
        (
            {"type": "ExternalName", "externalName": "db.example.com"},
            {},
            ["ExternalName", "<none>", "db.example.com", "<none>", "<none>"],
        ),
    ],
)
def test_service(spec: dict[str, Any], status: dict[str, Any], expected: list[Any]) -> None:
    row = cells("", "services", {"metadata": {"name": "s"}, "spec": spec, "status": status})
    assert row[1:5] + row[6:] == expected


def test_endpoints() -> None:
    def endpoints(*subsets: dict[str, Any]) -> list[Any]:
        return cells("", "endpoints", {"metadata": {"name": "e"}, "subsets": list(subsets)})

    assert endpoints()[1] == "<none>"
    ips = [{"ip": f"10.0.0.{i}"} for i in range(1, 3)]
    assert endpoints({"addresses": ips, "ports": [{"port": 80}]})[1] == "10.0.0.1:80,10.0.0.2:80"
    assert endpoints({"addresses": ips})[1] == "10.0.0.1,10.0.0.2"
    assert endpoints({"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]})[1] == (
        "[fd00::1]:8080"
    )
    many: dict[str, Any] = {
        "addresses": ips,
        "ports": [{"port": 80}, {"port": 443}, {"port": 8080}],
    }
    assert endpoints(many)[1] == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 3 more..."


def test_endpoint_slice() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "s"},
        "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "http"}, {}],
        "endpoints": [
            {"addresses": ["10.0.0.1", "10.0.0.2"]},
            {"addresses": ["10.0.0.3"]},
            {"addresses": ["10.0.0.4"]},
        ],
    }
    assert cells("discovery.k8s.io", "endpointslices", obj) == [
        "s",
        "IPv4",
        "80,http,*",
        "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
        "<unknown>",
    ]
    empty: dict[str, Any] = {"metadata": {"name": "s"}, "addressType": "IPv6"}
    assert cells("discovery.k8s.io", "endpointslices", empty)[2:4] == ["<unset>", "<unset>"]


def test_small_core_printers() -> None:
    meta = {"name": "x", "creationTimestamp": ago(seconds=42)}
    assert cells(
        "", "configmaps", {"metadata": meta, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}
    ) == ["x", 2, "42s"]
    assert cells(
        "",
        "secrets",
        {"metadata": meta, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
    ) == ["x", "kubernetes.io/tls", 2, "42s"]
    assert cells("", "secrets", {"metadata": meta})[1:3] == ["Opaque", 0]
    assert cells("", "namespaces", {"metadata": meta, "status": {"phase": "Terminating"}}) == [
        "x",
        "Terminating",
        "42s",
    ]
    assert cells("", "serviceaccounts", {"metadata": meta}) == ["x", 0, "42s"]
    assert cells(
        "coordination.k8s.io", "leases", {"metadata": meta, "spec": {"holderIdentity": "node-1"}}
    ) == ["x", "node-1", "42s"]
    for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        assert cells(
            "admissionregistration.k8s.io", kind, {"metadata": meta, "webhooks": [{}, {}]}
        ) == ["x", 2, "42s"]
    assert cells(
        "networking.k8s.io", "networkpolicies", {"metadata": meta, "spec": {"podSelector": {}}}
    ) == ["x", "<none>", "42s"]


@pytest.mark.parametrize(
    ("conditions", "unschedulable", "status"),
    [
        ([{"type": "Ready", "status": "True"}], False, "Ready"),
        ([{"type": "Ready", "status": "False"}], False, "NotReady"),
        ([{"type": "Ready", "status": "Unknown"}], True, "NotReady,SchedulingDisabled"),
        ([{"type": "MemoryPressure", "status": "False"}], False, "Unknown"),
        ([], True, "Unknown,SchedulingDisabled"),
    ],
)
def test_node_status(conditions: list[dict[str, str]], unschedulable: bool, status: str) -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "n"},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": conditions},
    }
    assert cells("", "nodes", obj)[1] == status


def test_node_roles_and_wide_cells() -> None:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "n",
            "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/": "x",
                "kubernetes.io/role": "worker",
                "node-role.kubernetes.io/etcd": "true",
            },
        },
        "status": {
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian"},
            "addresses": [
                {"type": "Hostname", "address": "n"},
                {"type": "InternalIP", "address": "10.1.1.1"},
            ],
        },
    }
    assert cells("", "nodes", obj) == [
        "n",
        "Unknown",
        "control-plane,etcd,worker",
        "<unknown>",
        "v1.32.0",
        "10.1.1.1",
        "<none>",
        "Debian",
        "<unknown>",
        "<unknown>",
    ]
    assert cells("", "nodes", {"metadata": {"name": "m"}})[2] == "<none>"


def test_core_event() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "p.17"},
        "type": "Warning",
        "reason": "BackOff",
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
        "source": {"component": "kubelet", "host": "node-1"},
        "message": " Back-off \n",
        "firstTimestamp": ago(minutes=30),
        "lastTimestamp": ago(seconds=15),
        "count": 7,
    }
    assert cells("", "events", obj) == [
        "15s",
        "Warning",
        "BackOff",
        "pod/p",
        "spec.containers{c}",
        "kubelet, node-1",
        "Back-off",
        "30m",
        7,
        "p.17",
    ]
    printer = printers.printer_for("", "events")
    assert printer is not None
    assert [c.name for c in printer.columns if c.priority == 0] == [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Message",
    ]


def test_new_style_events() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "e"},
        "type": "Normal",
        "reason": "Scheduled",
        "note": "ok",
        "regarding": {"kind": "Pod", "name": "p"},
        "reportingController": "scheduler",
        "eventTime": "2024-05-01T11:58:00.000000Z",
    }
    assert cells("events.k8s.io", "events", obj) == [
        "2m",
        "Normal",
        "Scheduled",
        "pod/p",
        "",
        "scheduler",
        "ok",
        "2m",
        1,
        "e",
    ]
    obj["series"] = {"count": 4, "lastObservedTime": "2024-05-01T11:59:30.000000Z"}
    assert cells("events.k8s.io", "events", obj)[0] == "30s"
    assert cells("events.k8s.io", "events", obj)[8] == 4
    core: dict[str, Any] = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node"}}
    assert cells("", "events", core)[:4] == ["<unknown>", "", "", "node"]


def test_persistent_volume_and_claim() -> None:
    pv: dict[str, Any] = {
        "metadata": {"name": "pv1"},
        "spec": {
            "capacity": {"storage": "10Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "fast",
            "claimRef": {"namespace": "ns", "name": "data"},
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound"},
    }
    assert cells("", "persistentvolumes", pv) == [
        "pv1",
        "10Gi",
        "RWO,RWX",
        "Retain",
        "Bound",
        "ns/data",
        "fast",
        "<unset>",
        "",
        "<unknown>",
        "Filesystem",
    ]
    pv["metadata"]["deletionTimestamp"] = ago(seconds=1)
    pv["metadata"]["annotations"] = {"volume.beta.kubernetes.io/storage-class": "old"}
    assert cells("", "persistentvolumes", pv)[4:7] == ["Terminating", "ns/data", "old"]
    pvc: dict[str, Any] = {
        "metadata": {"name": "data"},
        "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"},
    }
    assert cells("", "persistentvolumeclaims", pvc) == [
        "data",
        "Pending",
        "",
        "",
        "",
        "fast",
        "<unset>",
        "<unknown>",
        "<unset>",
    ]
    pvc["spec"]["volumeName"] = "pv1"
    pvc["status"] = {
        "phase": "Bound",
        "capacity": {"storage": "10Gi"},
        "accessModes": ["ReadOnlyMany"],
    }
    assert cells("", "persistentvolumeclaims", pvc)[1:5] == ["Bound", "pv1", "10Gi", "ROX"]


def test_storage_class() -> None:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "std",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "csi.x",
    }
    assert cells("storage.k8s.io", "storageclasses", obj) == [
        "std (default)",
        "csi.x",
        "Delete",
        "Immediate",
        False,
        "<unknown>",
    ]
    obj = {
        "metadata": {"name": "slow"},
        "provisioner": "p",
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    assert cells("storage.k8s.io", "storageclasses", obj)[:5] == [
        "slow",
        "p",
        "Retain",
        "WaitForFirstConsumer",
        True,
    ]


def test_role_bindings() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "rb"},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"},
            {"kind": "User", "name": "bob"},
            {"kind": "Robot", "name": "r"},
        ],
    }
    expected = ["rb", "ClusterRole/view", "<unknown>", "alice, bob", "devs", "ns/sa"]
    assert cells("rbac.authorization.k8s.io", "rolebindings", obj) == expected
    assert cells("rbac.authorization.k8s.io", "clusterrolebindings", obj) == expected
    printer = printers.printer_for("rbac.authorization.k8s.io", "clusterrolebindings")
    assert printer is not None and printer.columns[3].doc == "Users in the clusterRoleBinding"


def test_priority_class() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "high"},
        "value": 1000,
        "globalDefault": True,
        "preemptionPolicy": "Never",
    }
    assert cells("scheduling.k8s.io", "priorityclasses", obj) == [
        "high",
        1000,
        True,
        "<unknown>",
        "Never",
    ]


def test_ingress_and_ingress_class() -> None:
    rules = [
        {"host": "a.example"},
        {},
        {"host": "b.example"},
        {"host": "c.example"},
        {"host": "d.example"},
    ]
    obj: dict[str, Any] = {
        "metadata": {"name": "i"},
        "spec": {"ingressClassName": "nginx", "rules": rules, "tls": [{}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}},
    }
    assert cells("networking.k8s.io", "ingresses", obj) == [
        "i",
        "nginx",
        "a.example,b.example,c.example + 2 more...",
        "1.1.1.1",
        "80, 443",
        "<unknown>",
    ]
    assert cells("networking.k8s.io", "ingresses", {"metadata": {"name": "j"}})[1:5] == [
        "<none>",
        "*",
        "",
        "80",
    ]
    klass: dict[str, Any] = {
        "metadata": {"name": "nginx"},
        "spec": {
            "controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "Params", "name": "p"},
        },
    }
    assert cells("networking.k8s.io", "ingressclasses", klass)[1:3] == [
        "k8s.io/ingress-nginx",
        "Params.k8s.example.com/p",
    ]


def test_api_service() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "v1beta1.metrics.k8s.io"},
        "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
        "status": {
            "conditions": [
                {"type": "Available", "status": "False", "reason": "FailedDiscoveryCheck"}
            ]
        },
    }
    assert cells("apiregistration.k8s.io", "apiservices", obj)[1:3] == [
        "kube-system/metrics-server",
        "False (FailedDiscoveryCheck)",
    ]
    local: dict[str, Any] = {"metadata": {"name": "v1.apps"}, "spec": {}}
    assert cells("apiregistration.k8s.io", "apiservices", local)[1:3] == ["Local", "Unknown"]


def test_no_printer_for_default_convertor_kinds() -> None:
    for group, resource in [
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
        ("", "limitranges"),
    ]:
        assert printers.printer_for(group, resource) is None


# -- selectors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        (None, "<none>"),
        ({}, "<none>"),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "k", "operator": "NotIn", "values": ["x"]},
                    {"key": "e", "operator": "Exists"},
                    {"key": "f", "operator": "DoesNotExist"},
                ]
            },
            "e,!f,k notin (x)",
        ),
        ({"matchExpressions": [{"key": "k", "operator": "In"}]}, "<error>"),
        ({"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]}, "<error>"),
        ({"matchLabels": {"bad key": "v"}}, "<error>"),
        ({"matchLabels": {"example.com/app": "-bad"}}, "<error>"),
    ],
)
def test_format_selector(selector: Any, text: str) -> None:
    assert printers.format_selector(selector) == text


def test_format_labels() -> None:
    assert printers.format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert printers.format_labels(None) == "<none>"


# -- robustness ----------------------------------------------------------------------------

_FIELDS = [
    "metadata",
    "spec",
    "status",
    "name",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "annotations",
    "containers",
    "initContainers",
    "containerStatuses",
    "initContainerStatuses",
    "state",
    "lastState",
    "terminated",
    "waiting",
    "running",
    "reason",
    "conditions",
    "type",
    "replicas",
    "selector",
    "matchLabels",
    "matchExpressions",
    "ports",
    "port",
    "subsets",
    "addresses",
    "ip",
    "template",
    "jobTemplate",
    "metrics",
    "currentMetrics",
    "resource",
    "target",
    "current",
    "series",
    "involvedObject",
    "regarding",
    "roleRef",
    "subjects",
    "ownerReferences",
    "loadBalancer",
    "ingress",
    "rules",
    "capacity",
    "accessModes",
    "phase",
    "startTime",
    "completionTime",
    "restartCount",
    "ready",
    "started",
    "restartPolicy",
    "readinessGates",
    "podIPs",
    "service",
    "parameters",
    "webhooks",
    "endpoints",
    "nodeInfo",
]
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False)
    | st.sampled_from(["", "True", "Always", "Ready", "Resource", "2024-05-01T11:00:00Z", "x"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_FIELDS), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(printers.printed_resources()),
    st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=6),
)
def test_printers_tolerate_malformed_objects(key: tuple[str, str], obj: dict[str, Any]) -> None:
    printer = printers.printer_for(*key)
    assert printer is not None
    row = printer.cells(obj, NOW)
    assert len(row) == len(printer.columns)
    if printer.conditions is not None:
        printer.conditions(obj)


def test_every_swagger_description_resolves() -> None:
    for key in printers.printed_resources():
        printer = printers.printer_for(*key)
        assert printer is not None
        for column in printer.columns:
            definition = column.definition()
            assert definition["description"], (key, column.name)
            assert definition["priority"] in (0, 1)
