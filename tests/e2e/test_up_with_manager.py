"""``pilothouse up`` (what ``make up`` runs): the embedded cluster, a Nimbus emulator and the
operator manager in one process, reconciling as soon as objects appear, and stopping cleanly on
SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys
import urllib.request
from typing import Any

from pilothouse import ports
from pilothouse.operators.storm.nimbus import connection, endpoint
from pilothouse.testing import apiserver as testing_apiserver
from pilothouse.testing import eventually

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "integration" / "controllers"))
import widgets  # noqa: E402

PILOTHOUSE = pathlib.Path(sys.executable).with_name("pilothouse")


def test_up_runs_cluster_and_manager_together(tmp_path: pathlib.Path) -> None:
    metrics = ports.free_port()
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "integration" / "controllers")}
    log = tmp_path / "up.log"
    out = tmp_path / "up.out"
    with log.open("wb") as err, out.open("wb") as stdout:
        proc = subprocess.Popen(
            [
                str(PILOTHOUSE),
                "up",
                "--nodes",
                "0",
                "--controllers",
                "widgets:setup",
                "--controllers",
                "sessions",
                "--metrics-bind-address",
                f"127.0.0.1:{metrics}",
                "--nimbus-port",
                "0",
                "--sessions-api-port",
                "0",
            ],
            cwd=tmp_path,
            env=env,
            stdout=stdout,
            stderr=err,
        )
    kubeconfig = tmp_path / ".pilothouse" / "kubeconfig"
    try:
        eventually.eventually(
            lambda: (
                kubeconfig.exists()
                and "default"
                in testing_apiserver.kubectl(kubeconfig, "get", "ns", check=False).stdout
            ),
            timeout=60,
            interval=0.1,
        )
        testing_apiserver.kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(widgets.CRD))
        testing_apiserver.kubectl(
            kubeconfig, "wait", "--for=condition=Established", "crd/widgets.example.com"
        )
        # The CRD appeared after the manager started: its informer retries until it exists.
        testing_apiserver.kubectl(
            kubeconfig, "apply", "-f", "-", input=json.dumps(widgets.widget("u", {"a": "b"}))
        )
        eventually.eventually(
            lambda: (
                "u-data" in testing_apiserver.kubectl(kubeconfig, "get", "cm", "-o", "name").stdout
            ),
            timeout=60,
            interval=0.2,
            message=f"child never created; log: {log.read_text()[-3000:]}",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/readyz", timeout=5) as r:
            assert r.read() == b"ok"
        line = eventually.eventually(
            lambda: next(
                (x for x in out.read_text().splitlines() if x.startswith("nimbus emulator: ")),
                None,
            ),
            timeout=30,
        )
        nimbus = endpoint.Endpoint.parse(line.split()[2])
        leader = asyncio.run(_get_leader(nimbus))
        assert (leader.port, leader.isLeader) == (nimbus.port, True)
        # The sessions API, with the token it printed.
        api = next(x for x in out.read_text().splitlines() if x.startswith("sessions API: "))
        base, token = api.split()[2], api.split()[4]
        request = urllib.request.Request(f"{base}/api/v1/templates")
        request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]


async def _get_leader(nimbus: endpoint.Endpoint) -> Any:
    conn = await connection.Connection.open(nimbus)
    try:
        return await conn.call("getLeader", 10)
    finally:
        await conn.close()
