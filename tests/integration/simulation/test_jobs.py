"""The simulated Job and CronJob controllers, driven through kubectl.

A test-only kubelet stands in for the real one (written elsewhere): it runs every pod, and
finishes it per the ``pilothouse.dev/exit-code`` annotation ("0" Succeeded, else Failed)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Iterator

import pytest

from pilothouse.apiserver import server, state
from pilothouse.apiserver.simulation import base, cronjobs, jobs
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually


class FakeKubelet(base.Controller):
    name = "test-kubelet"
    resource = "pods"

    async def reconcile(self, key: base.Key) -> None:
        pod = self.get("pods", *key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        status = dict(pod.get("status") or {})
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        code = (pod["metadata"].get("annotations") or {}).get("pilothouse.dev/exit-code")
        phase = "Running" if code is None else ("Succeeded" if code == "0" else "Failed")
        ready = "True" if phase == "Running" else "False"
        status.update(
            phase=phase,
            podIP=status.get("podIP") or f"10.0.0.{abs(hash(key)) % 250 + 1}",
            conditions=[{"type": "Ready", "status": ready, "lastTransitionTime": self.now()}],
        )
        await self.update_status("pods", pod, status)


@pytest.fixture
def cluster(tmp_path: pathlib.Path) -> Iterator[ServerThread]:
    cfg = server.ServerConfig(
        simulation=True,
        simulation_controllers=(FakeKubelet, jobs.JobController, cronjobs.CronJobController),
    )
    with ServerThread(cfg).start(kubeconfig=tmp_path / "kubeconfig") as st:
        yield st


def _job(name: str, spec: dict[str, object], exit_code: str = "0") -> str:
    return json.dumps(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                **spec,
                "template": {
                    "metadata": {"annotations": {"pilothouse.dev/exit-code": exit_code}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox"}],
                    },
                },
            },
        }
    )


def _get(cluster: ServerThread, *args: str) -> dict[str, object]:
    out = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    assert isinstance(out, dict)
    return out


def test_job_completes(cluster: ServerThread) -> None:
    cluster.kubectl("apply", "-f", "-", input=_job("pi", {"completions": 3, "parallelism": 2}))
    cluster.kubectl("wait", "--for=condition=Complete", "job/pi", "--timeout=20s")
    job = _get(cluster, "job", "pi")
    status = job["status"]
    assert isinstance(status, dict)
    assert status["succeeded"] == 3
    assert "active" not in status
    assert status["completionTime"] and status["startTime"]
    types = {c["type"] for c in status["conditions"] if c["status"] == "True"}
    assert types == {"Complete", "SuccessCriteriaMet"}
    pods = _get(cluster, "pods", "-l", "batch.kubernetes.io/job-name=pi")["items"]
    assert isinstance(pods, list) and len(pods) == 3
    for p in pods:
        assert p["metadata"]["generateName"] == "pi-"
        assert p["metadata"]["ownerReferences"][0]["kind"] == "Job"
        assert p["status"]["phase"] == "Succeeded"


def test_job_backoff_limit(cluster: ServerThread) -> None:
    cluster.kubectl("apply", "-f", "-", input=_job("bad", {"backoffLimit": 2}, exit_code="1"))
    cluster.kubectl("wait", "--for=condition=Failed", "job/bad", "--timeout=20s")
    status = _get(cluster, "job", "bad")["status"]
    assert isinstance(status, dict)
    assert status["failed"] == 3
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert any(c["type"] == "FailureTarget" for c in status["conditions"])


def test_indexed_job(cluster: ServerThread) -> None:
    spec = {"completions": 3, "parallelism": 3, "completionMode": "Indexed"}
    cluster.kubectl("apply", "-f", "-", input=_job("idx", spec))
    cluster.kubectl("wait", "--for=condition=Complete", "job/idx", "--timeout=20s")
    assert _get(cluster, "job", "idx")["status"]["completedIndexes"] == "0-2"
    pods = _get(cluster, "pods", "-l", "batch.kubernetes.io/job-name=idx")["items"]
    assert isinstance(pods, list)
    idx = sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in pods
    )
    assert idx == ["0", "1", "2"]
    assert {p["spec"]["hostname"] for p in pods} == {"idx-0", "idx-1", "idx-2"}


def test_running_job_suspend_and_ttl(cluster: ServerThread) -> None:
    body = json.loads(_job("run", {"parallelism": 2, "completions": 4}))
    del body["spec"]["template"]["metadata"]
    cluster.kubectl("apply", "-f", "-", input=json.dumps(body))

    def ready() -> bool:
        st = _get(cluster, "job", "run").get("status") or {}
        assert isinstance(st, dict)
        return st.get("active") == 2 and st.get("ready") == 2

    eventually(ready, timeout=10)
    cluster.kubectl("patch", "job", "run", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    cluster.kubectl("wait", "--for=condition=Suspended", "job/run", "--timeout=20s")
    eventually(lambda: not _get(cluster, "pods", "-l", "job-name=run")["items"], timeout=10)

    ttl = json.loads(_job("gone", {"ttlSecondsAfterFinished": 0}))
    cluster.kubectl("apply", "-f", "-", input=json.dumps(ttl))
    eventually(
        lambda: cluster.kubectl("get", "job", "gone", check=False).returncode != 0, timeout=20
    )


def test_create_job_from_cronjob(cluster: ServerThread) -> None:
    cj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": json.loads(_job("x", {}))["spec"]},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(cj))
    cluster.kubectl("create", "job", "manual", "--from=cronjob/nightly")
    cluster.kubectl("wait", "--for=condition=Complete", "job/manual", "--timeout=20s")
    status = _get(cluster, "cronjob", "nightly").get("status") or {}
    assert isinstance(status, dict)
    assert "lastScheduleTime" not in status


def test_cronjob_fires_on_schedule(cluster: ServerThread) -> None:
    # Shift the server clock to 1.5s before a minute boundary, so `* * * * *` fires soon.
    real = state.utc_now()
    boundary = real.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    offset = boundary - dt.timedelta(seconds=1.5) - real
    st = cluster.server.state
    assert st is not None
    st.clock = lambda: state.utc_now() + offset
    cj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {
            "schedule": "* * * * *",
            "successfulJobsHistoryLimit": 1,
            "jobTemplate": {"spec": json.loads(_job("x", {}))["spec"]},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(cj))
    name = f"tick-{int(boundary.timestamp()) // 60}"
    cluster.kubectl("wait", "--for=create", f"job/{name}", "--timeout=20s")
    cluster.kubectl("wait", "--for=condition=Complete", f"job/{name}", "--timeout=20s")

    def recorded() -> bool:
        status = _get(cluster, "cronjob", "tick").get("status") or {}
        assert isinstance(status, dict)
        assert status.get("lastScheduleTime") == state.format_time(boundary)
        assert status.get("lastSuccessfulTime")
        assert "active" not in status
        return True

    eventually(recorded, timeout=10)
    job = _get(cluster, "job", name)
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"


@pytest.mark.parametrize("policy", ["Forbid", "Replace", "Allow"])
def test_cronjob_concurrency_policy(cluster: ServerThread, policy: str) -> None:
    # The clock is moved just before one minute boundary, then past the next one.
    real = state.utc_now()
    first = real.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    offset = [first - dt.timedelta(seconds=1) - real]
    st = cluster.server.state
    assert st is not None
    st.clock = lambda: state.utc_now() + offset[0]
    body = json.loads(_job("x", {}))["spec"]
    del body["template"]["metadata"]  # jobs keep running
    cj = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cc", "namespace": "default"},
        "spec": {
            "schedule": "*/1 * * * *",
            "concurrencyPolicy": policy,
            "jobTemplate": {"spec": body},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(cj))
    job1 = f"cc-{int(first.timestamp()) // 60}"
    cluster.kubectl("wait", "--for=create", f"job/{job1}", "--timeout=20s")
    offset[0] += dt.timedelta(minutes=1)
    cluster.kubectl("annotate", "cronjob", "cc", "poke=1")  # wake the controller now
    job2 = f"cc-{int(first.timestamp()) // 60 + 1}"

    def names() -> set[str]:
        items = _get(cluster, "jobs")["items"]
        assert isinstance(items, list)
        return {j["metadata"]["name"] for j in items if not j["metadata"].get("deletionTimestamp")}

    def active() -> list[str]:
        status = _get(cluster, "cronjob", "cc").get("status") or {}
        assert isinstance(status, dict)
        return sorted(a["name"] for a in status.get("active") or [])

    if policy == "Forbid":
        eventually(lambda: active() == [job1], timeout=10)
        assert names() == {job1}
        # Once the running job is gone, the skipped schedule runs.
        cluster.kubectl("delete", "job", job1)
        eventually(lambda: names() == {job2} and active() == [job2], timeout=10)
    elif policy == "Replace":
        eventually(lambda: names() == {job2} and active() == [job2], timeout=10)
    else:
        eventually(lambda: names() == {job1, job2} and active() == [job1, job2], timeout=10)
