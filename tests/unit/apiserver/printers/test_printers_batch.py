"""Printers of Jobs and CronJobs, checked against printers_test.go cases. Objects are the
versioned JSON the server stores."""

from __future__ import annotations

from typing import Any

import pytest
from printer_rows import TEMPLATE, ago, cells

from pilothouse.apiserver import printers


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
