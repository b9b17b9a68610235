"""``pilothouse up`` runs the installed sessions operator (its ``pilothouse.operators`` entry
point): its CRDs are installed, and a Session applied with unmodified kubectl becomes Running
on the simulated cluster, then Hibernated."""

from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys

from pilothouse.testing import apiserver as testing_apiserver
from pilothouse.testing import eventually

PILOTHOUSE = pathlib.Path(sys.executable).with_name("pilothouse")

TEMPLATE = {
    "apiVersion": "sessions.pilothouse.dev/v1alpha1",
    "kind": "SessionTemplate",
    "metadata": {"name": "python", "namespace": "default"},
    "spec": {"image": "python:3.12-slim"},
}
SESSION = {
    "apiVersion": "sessions.pilothouse.dev/v1alpha1",
    "kind": "Session",
    "metadata": {"name": "alice-1", "namespace": "default"},
    "spec": {"user": "alice", "template": "python"},
}


def test_up_runs_the_sessions_operator(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "up.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                str(PILOTHOUSE),
                "up",
                "--nodes",
                "1",
                "--metrics-bind-address",
                "0",
                "--nimbus-port",
                "-1",
                "--sessions-api-port",
                "-1",
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    kubeconfig = tmp_path / ".pilothouse" / "kubeconfig"
    try:
        eventually.eventually(
            lambda: (
                kubeconfig.exists()
                and "sessions.sessions.pilothouse.dev"
                in testing_apiserver.kubectl(kubeconfig, "get", "crd", check=False).stdout
            ),
            timeout=60,
            interval=0.2,
            message=f"sessions CRDs never installed; log: {log.read_text()[-3000:]}",
        )
        for obj in (TEMPLATE, SESSION):
            testing_apiserver.kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(obj))

        def phase() -> str:
            return testing_apiserver.kubectl(
                kubeconfig, "get", "sess", "alice-1", "-o", "jsonpath={.status.phase}"
            ).stdout

        eventually.eventually(
            lambda: phase() == "Running",
            timeout=60,
            interval=0.2,
            message=f"session never Running; log: {log.read_text()[-3000:]}",
        )
        testing_apiserver.kubectl(
            kubeconfig,
            "patch",
            "sess",
            "alice-1",
            "--type=merge",
            "-p",
            '{"spec": {"state": "hibernated"}}',
        )
        eventually.eventually(lambda: phase() == "Hibernated", timeout=60, interval=0.2)
        table = testing_apiserver.kubectl(kubeconfig, "get", "sess").stdout
        assert "alice" in table and "Hibernated" in table
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
