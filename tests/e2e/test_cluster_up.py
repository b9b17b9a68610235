"""``pilothouse cluster up`` end to end: a real process, signals, restarts, kubectl."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess

from pilothouse.testing.process import ClusterProcess


def _kubectl(kubeconfig: pathlib.Path, *args: str) -> str:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig))
    return subprocess.run(
        ["kubectl", *args], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_up_restart_keeps_objects_credentials_and_shuts_down_cleanly(
    tmp_path: pathlib.Path,
) -> None:
    state = tmp_path / "state"
    server = ClusterProcess(state, "--no-simulation").start()
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    _kubectl(server.kubeconfig, "create", "configmap", "kept", "--from-literal=a=b")
    first_rv = int(
        _kubectl(
            server.kubeconfig, "get", "cm", "kept", "-o", "jsonpath={.metadata.resourceVersion}"
        )
    )
    ca_before = (state / "pki" / "ca.crt").read_bytes()
    assert server.stop(signal.SIGTERM) == 0  # graceful shutdown

    again = ClusterProcess(state, "--no-simulation").start()
    try:
        assert (state / "pki" / "ca.crt").read_bytes() == ca_before
        assert "kept" in _kubectl(again.kubeconfig, "get", "cm")
        _kubectl(again.kubeconfig, "create", "configmap", "new")
        new_rv = int(
            _kubectl(
                again.kubeconfig, "get", "cm", "new", "-o", "jsonpath={.metadata.resourceVersion}"
            )
        )
        assert new_rv > first_rv
        assert again.client().request("GET", "/api/v1/namespaces").status == 200
    finally:
        assert again.stop(signal.SIGINT) == 0
