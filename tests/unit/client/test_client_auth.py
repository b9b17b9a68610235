"""Credential providers: token files re-read on schedule and after a 401, and exec plugins
(cached until expiry, refreshed after, one run for a burst of requests, KUBERNETES_EXEC_INFO
passed, clear errors)."""

from __future__ import annotations

import asyncio
import json
import pathlib
import sys
import time
from typing import Any

import pytest

from pilothouse.client import auth as auth_mod

PLUGIN = r"""
import datetime, json, os, pathlib, sys

state = pathlib.Path(os.environ["PLUGIN_STATE"])
runs = int(state.read_text()) + 1 if state.exists() else 1
state.write_text(str(runs))
pathlib.Path(str(state) + ".info").write_text(os.environ.get("KUBERNETES_EXEC_INFO", ""))
mode = os.environ.get("PLUGIN_MODE", "ok")
if mode == "fail":
    print("login required: run `cloud auth login`", file=sys.stderr)
    sys.exit(3)
if mode == "garbage":
    print("Welcome! This is not JSON.")
    sys.exit(0)
status = {} if mode == "notoken" else {"token": f"tok-{runs}"}
if mode == "badexpiry":
    status["expirationTimestamp"] = "next tuesday"
ttl = os.environ.get("PLUGIN_TTL")
if ttl:
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(ttl))
    status["expirationTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
cred = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}
print(json.dumps({**cred, "status": status}))
"""


class Plugin:
    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.script = tmp_path / "plugin.py"
        self.script.write_text(PLUGIN)
        self.state = tmp_path / "runs"

    def make(self, mode: str = "ok", ttl: float | None = None, **kw: Any) -> auth_mod.ExecPlugin:
        env = {"PLUGIN_STATE": str(self.state), "PLUGIN_MODE": mode}
        if ttl is not None:
            env["PLUGIN_TTL"] = str(ttl)
        kw.setdefault("cluster", {"server": "https://example:6443"})
        return auth_mod.ExecPlugin(sys.executable, [str(self.script)], env, **kw)

    @property
    def runs(self) -> int:
        return int(self.state.read_text()) if self.state.exists() else 0

    @property
    def exec_info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads(pathlib.Path(f"{self.state}.info").read_text())
        return info


@pytest.fixture
def plugin(tmp_path: pathlib.Path) -> Plugin:
    return Plugin(tmp_path)


class FakeTime:
    """Stands in for the ``time`` module inside :mod:`pilothouse.client.auth`."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(auth_mod, "time", fake)
    return fake


async def test_exec_token_is_cached_until_it_nears_expiry(plugin: Plugin, clock: FakeTime) -> None:
    p = plugin.make(ttl=3600)
    assert await p.header() == "Bearer tok-1"
    assert await p.header() == "Bearer tok-1"
    assert plugin.runs == 1
    clock.offset = 3600 - 60  # still a minute to go
    assert await p.header() == "Bearer tok-1"
    clock.offset = 3600 - 5  # within client-go's 10 s margin: refresh
    assert await p.header() == "Bearer tok-2"
    assert plugin.runs == 2
    clock.offset = 0  # the new credential expires an hour from (real) now: cached again
    assert await p.header() == "Bearer tok-2"
    assert plugin.runs == 2


async def test_exec_token_without_expiry_is_kept_until_invalidated(plugin: Plugin) -> None:
    p = plugin.make()
    assert await p.header() == "Bearer tok-1"
    assert await p.header() == "Bearer tok-1"
    p.invalidate()  # the server answered 401
    assert await p.header() == "Bearer tok-2"
    assert plugin.runs == 2


async def test_a_burst_of_requests_runs_the_plugin_once(plugin: Plugin) -> None:
    p = plugin.make(ttl=3600)
    headers = await asyncio.gather(*(p.header() for _ in range(8)))
    assert set(headers) == {"Bearer tok-1"} and plugin.runs == 1


async def test_exec_info_is_passed_in_the_environment(plugin: Plugin) -> None:
    p = plugin.make(api_version="client.authentication.k8s.io/v1beta1")
    await p.header()
    info = plugin.exec_info
    assert info["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert info["kind"] == "ExecCredential"
    assert info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == "https://example:6443"


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("fail", r"exited 3: login required: run `cloud auth login`"),
        ("garbage", "printed no ExecCredential"),
        ("notoken", "returned no token"),
        ("badexpiry", "invalid expirationTimestamp 'next tuesday'"),
    ],
)
async def test_exec_failures_are_auth_errors(plugin: Plugin, mode: str, message: str) -> None:
    p = plugin.make(mode)
    with pytest.raises(auth_mod.AuthError, match=message):
        await p.header()
    # Nothing half-cached: the next request runs the plugin again.
    with pytest.raises(auth_mod.AuthError):
        await p.header()
    assert plugin.runs == 2


async def test_exec_command_that_cannot_start(tmp_path: pathlib.Path) -> None:
    p = auth_mod.ExecPlugin(str(tmp_path / "no-such-plugin"))
    with pytest.raises(auth_mod.AuthError, match="cannot start"):
        await p.header()
    with pytest.raises(auth_mod.AuthError, match="not supported"):
        auth_mod.ExecPlugin("x", api_version="client.authentication.k8s.io/v1alpha1")


async def test_token_file_rereads_on_schedule(tmp_path: pathlib.Path, clock: FakeTime) -> None:
    path = tmp_path / "token"
    path.write_text("one\n")
    tf = auth_mod.TokenFile(path, refresh=60)
    assert await tf.header() == "Bearer one"
    path.write_text("two\n")
    clock.offset = 30
    assert await tf.header() == "Bearer one"
    clock.offset = 61
    assert await tf.header() == "Bearer two"
    path.unlink()
    tf.invalidate()
    with pytest.raises(auth_mod.AuthError, match=str(path)):
        await tf.header()


async def test_static_and_basic_auth_ignore_invalidate() -> None:
    st = auth_mod.StaticToken(" abc \n")
    st.invalidate()
    assert await st.header() == "Bearer abc"
    basic = auth_mod.BasicAuth("u", "p")
    basic.invalidate()
    assert await basic.header() == "Basic dTpw"
    assert await auth_mod.NoAuth().header() is None
