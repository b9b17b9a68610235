"""``pilothouse up`` (what ``make up`` runs): the embedded cluster and the operator manager in
one process, reconciling as soon as objects appear, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import urllib.request

from pilothouse.testing import eventually

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "integration" / "controllers"))
import widgets  # noqa: E402

PILOTHOUSE = pathlib.Path(sys.executable).with_name("pilothouse")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def kubectl(kubeconfig: pathlib.Path, *args: str, input: str | None = None) -> str:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    return subprocess.run(
        ["kubectl", *args], env=env, input=input, capture_output=True, text=True, timeout=60
    ).stdout


def test_up_runs_cluster_and_manager_together(tmp_path: pathlib.Path) -> None:
    metrics = free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "integration" / "controllers")}
    log = tmp_path / "up.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                str(PILOTHOUSE),
                "up",
                "--nodes",
                "0",
                "--controllers",
                "widgets:setup",
                "--metrics-bind-address",
                f"127.0.0.1:{metrics}",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    kubeconfig = tmp_path / ".pilothouse" / "kubeconfig"
    try:
        eventually.eventually(
            lambda: kubeconfig.exists() and "default" in kubectl(kubeconfig, "get", "ns"),
            timeout=60,
            interval=0.1,
        )
        kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(widgets.CRD))
        kubectl(kubeconfig, "wait", "--for=condition=Established", "crd/widgets.example.com")
        # The CRD appeared after the manager started: its informer retries until it exists.
        kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(widgets.widget("u", {"a": "b"})))
        eventually.eventually(
            lambda: "u-data" in kubectl(kubeconfig, "get", "cm", "-o", "name"),
            timeout=60,
            interval=0.2,
            message=f"child never created; log: {log.read_text()[-3000:]}",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/readyz", timeout=5) as r:
            assert r.read() == b"ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
