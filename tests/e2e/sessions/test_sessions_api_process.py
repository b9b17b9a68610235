"""The sessions stack as a user runs it: ``pilothouse up`` (cluster, simulated node, the
sessions operator with its webhooks) and ``pilothouse sessions-api`` as two processes, driven
over HTTP with a bearer token: create a session (202), see it Running, hibernate it, wake it
with a connection, and be refused over quota (403 with the webhook's message); heartbeats keep
a session running past its idle timeout, and without them it is hibernated as idle. Both read the
API's database from ``PILOTHOUSE_SESSIONS_DATABASE_URL``, so when the session is deleted with
kubectl the manager's finalizer deletes its connection records from that database."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from pilothouse import ports
from pilothouse.testing import apiserver as testing_apiserver
from pilothouse.testing import eventually

PILOTHOUSE = pathlib.Path(sys.executable).with_name("pilothouse")
GROUP = "sessions.pilothouse.dev/v1alpha1"
UP = [str(PILOTHOUSE), "up"]
API = [str(PILOTHOUSE), "sessions-api"]


def call(
    base: str, method: str, path: str, token: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        exc.close()
        return exc.code, json.loads(raw) if raw else {}


def test_the_sessions_api_drives_the_operator_end_to_end(tmp_path: pathlib.Path) -> None:
    up_log, api_log = tmp_path / "up.log", tmp_path / "api.log"
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("t-alice: alice\n")
    api_port = ports.free_port()
    kubeconfig = tmp_path / ".pilothouse" / "kubeconfig"
    database = tmp_path / "api.db"
    env = {
        **os.environ,
        "PILOTHOUSE_SESSIONS_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        # Idle sessions stop right at their idleTimeout, so idling takes seconds here.
        "PILOTHOUSE_SESSIONS_IDLE_GRACE": "0s",
    }
    with up_log.open("wb") as up_err:
        up = subprocess.Popen(
            [
                *UP,
                *("--nodes", "1", "--metrics-bind-address", "0"),
                *("--nimbus-port", "-1", "--sessions-api-port", "-1"),
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=up_err,
            env=env,
        )
    api: subprocess.Popen[bytes] | None = None
    try:
        eventually.eventually(
            lambda: (
                kubeconfig.exists()
                and "vsession"
                in testing_apiserver.kubectl(
                    kubeconfig, "get", "validatingwebhookconfigurations", "-o=json", check=False
                ).stdout
            ),
            timeout=60,
            interval=0.2,
            message=f"webhooks never registered; log: {up_log.read_text()[-3000:]}",
        )
        template = {
            "apiVersion": GROUP,
            "kind": "SessionTemplate",
            "metadata": {"name": "python", "namespace": "default"},
            "spec": {"image": "python:3.12-slim", "resources": {"requests": {"cpu": "1"}}},
        }
        quota = {
            "apiVersion": GROUP,
            "kind": "SessionQuota",
            "metadata": {"name": "team", "namespace": "default"},
            "spec": {"perUser": {"sessions": 1}},
        }
        for obj in (template, quota):
            testing_apiserver.kubectl(kubeconfig, "apply", "-f", "-", input=json.dumps(obj))
        with api_log.open("wb") as api_err:
            api = subprocess.Popen(
                [
                    *API,
                    *("--tokens", str(tokens), "--kubeconfig", str(kubeconfig)),
                    *("--port", str(api_port), "--heartbeat-interval", "0.2"),
                ],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=api_err,
                env=env,
            )
        base = f"http://127.0.0.1:{api_port}"

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        eventually.eventually(
            healthy, timeout=60, interval=0.2, message=f"API down: {api_log.read_text()[-3000:]}"
        )
        status, created = call(
            base, "POST", "/api/v1/sessions", "t-alice", {"name": "ws1", "template": "python"}
        )
        assert status == 202, created

        def phase(name: str) -> str:
            code, doc = call(base, "GET", f"/api/v1/sessions/{name}", "t-alice")
            return str(doc.get("phase")) if code == 200 else f"HTTP {code}"

        eventually.eventually(lambda: phase("ws1") == "Running", timeout=60, interval=0.2)
        assert call(base, "POST", "/api/v1/sessions/ws1/heartbeat", "t-alice")[0] == 204

        # Over quota: alice may run one session; the webhook's message comes back as a 403.
        status, denied = call(
            base, "POST", "/api/v1/sessions", "t-alice", {"name": "ws2", "template": "python"}
        )
        assert status == 403, denied
        assert "over the limit of 1" in json.dumps(denied), denied

        assert call(base, "POST", "/api/v1/sessions/ws1/hibernate", "t-alice")[0] == 202
        eventually.eventually(lambda: phase("ws1") == "Hibernated", timeout=60, interval=0.2)
        status, _ = call(base, "POST", "/api/v1/sessions/ws1/connections", "t-alice", {})
        assert status == 201
        eventually.eventually(lambda: phase("ws1") == "Running", timeout=60, interval=0.2)
        assert call(base, "GET", "/api/v1/sessions", "nope")[0] == 401

        # Deleting the Session (not through the API) deletes its records in the API's
        # database: the finalizer holds the deletion until they are gone.
        assert records(database, "ws1") == 1
        testing_apiserver.kubectl(kubeconfig, "delete", "sess", "ws1", "--timeout=60s")
        assert call(base, "GET", "/api/v1/sessions/ws1", "t-alice")[0] == 404
        assert records(database, "ws1") == 0

        # Heartbeats keep a session running past its idle timeout; without them it is
        # hibernated by the controller, as stopped by "idle".
        status, _ = call(
            base,
            "POST",
            "/api/v1/sessions",
            "t-alice",
            {"name": "idler", "template": "python", "idleTimeout": "3s"},
        )
        assert status == 202
        eventually.eventually(lambda: phase("idler") == "Running", timeout=60, interval=0.2)
        keep_alive_until = time.monotonic() + 6  # twice the idle timeout
        seen: str | None = None
        while time.monotonic() < keep_alive_until:

            def advanced(seen: str | None = seen) -> str | None:
                # Heartbeats, polled until status.lastActivity (written in whole seconds,
                # at most every 0.2 s) moves on: that paces the client, about one a second.
                assert call(base, "POST", "/api/v1/sessions/idler/heartbeat", "t-alice")[0] == 204
                value = call(base, "GET", "/api/v1/sessions/idler", "t-alice")[1].get(
                    "lastActivity"
                )
                return value if value and value != seen else None

            seen = eventually.eventually(advanced, timeout=10, interval=0.1)
            assert phase("idler") == "Running"
        eventually.eventually(lambda: phase("idler") == "Hibernated", timeout=30, interval=0.2)
        assert call(base, "GET", "/api/v1/sessions/idler", "t-alice")[1]["stoppedBy"] == "idle"
    finally:
        for proc in (api, up):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(60) for proc in (api, up) if proc is not None]
    assert codes == [0] * len(codes), up_log.read_text()[-2000:] + api_log.read_text()[-2000:]


def records(database: pathlib.Path, session: str) -> int:
    """How many connection records the API's database holds for ``session``."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM connections WHERE session_name = ?", (session,)
        ).fetchone()
    return int(count)


def test_bad_input_exits_2_before_anything_starts(tmp_path: pathlib.Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("t-alice: alice\n")
    cases = [
        (["--tokens", str(tmp_path / "missing.yaml")], "--tokens"),
        (["--tokens", str(tokens), "--database-url", "mysql://u:s3cret@127.0.0.1/x"], "mysql"),
    ]
    for args, expected in cases:
        out = subprocess.run(
            [*API, *args, "--port", str(ports.free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PILOTHOUSE_SESSIONS_DATABASE_URL": ""},
        )
        assert out.returncode == 2, out.stderr
        assert expected in out.stderr and "s3cret" not in out.stderr, out.stderr
