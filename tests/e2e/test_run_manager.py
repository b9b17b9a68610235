"""``pilothouse run`` as users run it: a subprocess against a cluster given by kubeconfig.

The crash test kills the manager with SIGKILL while it converges 1,000 objects, restarts
it, and checks that everything converges with no duplicated and no orphaned children --
the level-triggered design's promise: no progress is kept anywhere but in the cluster.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from pilothouse.apiserver import server as server_mod
from pilothouse.testing import apiserver as testing_apiserver
from pilothouse.testing import eventually

HERE = pathlib.Path(__file__).parent
WIDGETS_DIR = HERE.parent / "integration" / "controllers"
sys.path.insert(0, str(WIDGETS_DIR))
import widgets  # noqa: E402

PILOTHOUSE = pathlib.Path(sys.executable).with_name("pilothouse")
LOG: pathlib.Path | None = None


@pytest.fixture(autouse=True)
def manager_log(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """Managers' stderr goes to a file, shown when a test fails."""
    global LOG
    LOG = tmp_path / "manager.log"
    LOG.touch()
    yield LOG
    LOG = None


def logged() -> str:
    return LOG.read_text()[-4000:] if LOG else ""


@pytest.fixture
def srv(tmp_path: pathlib.Path) -> Iterator[testing_apiserver.ServerThread]:
    s = testing_apiserver.ServerThread(server_mod.ServerConfig(simulation=False))
    s.start(kubeconfig=tmp_path / "kubeconfig")
    s.apply(widgets.CRD)
    try:
        yield s
    finally:
        s.stop()


def start_manager(
    srv: testing_apiserver.ServerThread, *extra: str, metrics: str = "0"
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(WIDGETS_DIR)}
    assert srv.kubeconfig_path is not None and LOG is not None
    with LOG.open("ab") as log:
        return _popen(srv, env, log, metrics, extra)


def _popen(
    srv: testing_apiserver.ServerThread,
    env: dict[str, str],
    log: Any,
    metrics: str,
    extra: tuple[str, ...],
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(PILOTHOUSE),
            "run",
            "--kubeconfig",
            str(srv.kubeconfig_path),
            "--controllers",
            "widgets:setup",
            "--metrics-bind-address",
            metrics,
            "--health-probe-bind-address",
            "0",
            "--log-level",
            "warning",
            *extra,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def create_widgets(srv: testing_apiserver.ServerThread, n: int) -> None:
    docs = [widgets.widget(f"w{i:04d}", {"i": str(i)}) for i in range(n)]
    srv.kubectl(
        "create",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
        timeout=120,
    )


def stored_children(srv: testing_apiserver.ServerThread) -> int:
    """Counted on the server's own loop (its store is not shared with other threads)."""

    async def count() -> int:
        state = srv.server.state
        assert state is not None
        return sum(1 for r in state.store.iter("configmaps", "default") if r.name.endswith("-data"))

    return srv.call(count())


def children(srv: testing_apiserver.ServerThread) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = srv.get_json("configmaps", "-n", "default")["items"]
    return [cm for cm in items if cm["metadata"]["name"].endswith("-data")]


def test_kill_9_during_convergence_then_restart_converges_without_duplicates(
    srv: testing_apiserver.ServerThread,
) -> None:
    n = 1000
    create_widgets(srv, n)
    first = start_manager(srv)
    try:
        # Let it get part of the way, then kill it without any chance to clean up.
        # Counted in the server's store (no kubectl round trip), so the kill lands early.
        eventually.eventually(lambda: stored_children(srv) >= 100, timeout=60, interval=0.005)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    partial = stored_children(srv)
    assert partial < n, "the manager finished before it could be killed; raise n"
    second = start_manager(srv)
    try:

        def converged() -> bool:
            ws = srv.get_json("widgets", "-n", "default")["items"]
            ready = sum(
                1
                for w in ws
                if (w.get("status") or {}).get("observedGeneration") == w["metadata"]["generation"]
            )
            return ready == n and len(children(srv)) == n

        eventually.eventually(converged, timeout=120, interval=0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, logged()
    ws = {w["metadata"]["uid"]: w for w in srv.get_json("widgets", "-n", "default")["items"]}
    owners = []
    for cm in children(srv):
        refs = cm["metadata"].get("ownerReferences") or []
        assert len(refs) == 1 and refs[0]["controller"], cm["metadata"]
        assert refs[0]["uid"] in ws, f"orphaned child {cm['metadata']['name']}"
        owner = ws[refs[0]["uid"]]
        assert cm["metadata"]["name"] == f"{owner['metadata']['name']}-data"
        assert cm["data"] == owner["spec"]["data"]
        owners.append(refs[0]["uid"])
    assert len(owners) == len(set(owners)) == n


def test_run_serves_metrics_and_probes_and_stops_on_sigterm(
    srv: testing_apiserver.ServerThread,
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_manager(srv, metrics=f"127.0.0.1:{port}")
    try:
        srv.apply(widgets.widget("probe", {"a": "b"}))

        def scrape() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body: str = r.read().decode()
            except OSError:
                return None
            ok = 'controller_runtime_reconcile_total{controller="widget",result="success"}'
            return body if ok in body and f"{ok} 0.0" not in body else None

        body = eventually.eventually(scrape, timeout=30, interval=0.1)
        assert "workqueue_adds_total" in body
        assert "rest_client_requests_total" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            assert r.read() == b"ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, logged()


def test_run_rejects_unknown_operator(srv: testing_apiserver.ServerThread) -> None:
    assert srv.kubeconfig_path is not None
    out = subprocess.run(
        [str(PILOTHOUSE), "run", "--kubeconfig", str(srv.kubeconfig_path), "--controllers", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "no operator named 'nope'" in out.stderr


def test_run_rejects_an_operators_unusable_configuration(
    srv: testing_apiserver.ServerThread,
) -> None:
    assert srv.kubeconfig_path is not None
    env = {**os.environ, "PILOTHOUSE_SESSIONS_DATABASE_URL": "nosuchdb://u:s3cret@127.0.0.1/x"}
    out = subprocess.run(
        [
            str(PILOTHOUSE),
            "run",
            "--kubeconfig",
            str(srv.kubeconfig_path),
            "--controllers",
            "sessions",
            "--metrics-bind-address",
            "0",
            "--health-probe-bind-address",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 2, out.stderr
    assert "operator sessions: PILOTHOUSE_SESSIONS_DATABASE_URL" in out.stderr + out.stdout
    assert "s3cret" not in out.stderr + out.stdout
