"""The builder's errors, the probe server's answers, and how operators are loaded."""

from __future__ import annotations

import sys
import types
from typing import Any

import aiohttp
import pytest

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod
from pilothouse.runtime import builder, manager, operator, probes, reconcile


async def noop(req: reconcile.Request) -> None:
    return None


@pytest.fixture
def mgr() -> manager.Manager:
    client = client_mod.Client(config_mod.ClientConfig(server="http://127.0.0.1:1"))
    return manager.Manager(client, manager.ManagerOptions(metrics_bind_address=None))


def test_builder_names_and_wires_controllers(mgr: manager.Manager) -> None:
    ctrl = mgr.builder().for_(kinds.DEPLOYMENT).owns(kinds.POD).complete(noop)
    assert ctrl.name == "deployment" and len(ctrl.sources) == 2
    # The same kind watched twice shares one informer.
    other = mgr.builder().named("second").for_(kinds.DEPLOYMENT).complete(noop)
    assert other.sources[0] is ctrl.sources[0]


def test_builder_errors(mgr: manager.Manager) -> None:
    with pytest.raises(builder.BuilderError, match="needs for_"):
        mgr.builder().complete(noop)
    with pytest.raises(builder.BuilderError, match="only once"):
        mgr.builder().for_(kinds.POD).for_(kinds.POD)
    with pytest.raises(builder.BuilderError, match="names no Kubernetes kind"):
        mgr.builder().for_(object())
    mgr.builder().for_(kinds.POD).complete(noop)
    with pytest.raises(builder.BuilderError, match="already exists"):
        mgr.builder().for_(kinds.POD).complete(noop)
    with pytest.raises(TypeError, match="async"):
        mgr.builder().named("sync").for_(kinds.POD).complete(lambda req: None)  # type: ignore[arg-type,return-value]


async def test_probes_report_failing_checks_with_reasons() -> None:
    server = probes.ProbeServer(lambda: b"metric_total 1\n")

    def broken() -> bool:
        raise RuntimeError("informers not synced yet")

    async def fine() -> bool:
        return True

    server.readyz["informers"] = broken
    server.readyz["webhooks"] = fine
    await server.start([("127.0.0.1", 0)])
    host, port = server.addresses[0]
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://{host}:{port}/healthz") as r:
                assert r.status == 200 and await r.text() == "ok"
            async with s.get(f"http://{host}:{port}/readyz") as r:
                body = await r.text()
                assert r.status == 500
                assert "[-]informers failed: informers not synced yet" in body
                assert "[+]webhooks ok" in body
            async with s.get(f"http://{host}:{port}/metrics") as r:
                assert await r.text() == "metric_total 1\n"
    finally:
        await server.stop()


def test_parse_bind() -> None:
    assert probes.parse_bind("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert probes.parse_bind(":9090") == ("127.0.0.1", 9090)
    assert probes.parse_bind("[::1]:80") == ("::1", 80)
    assert probes.parse_bind("0") is None and probes.parse_bind("") is None
    with pytest.raises(ValueError, match="host:port"):
        probes.parse_bind("localhost")


def test_operator_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("fake_operator_mod")
    calls: list[Any] = []
    mod.OPERATOR = operator.Operator("fake", calls.append)  # type: ignore[attr-defined]
    mod.setup = calls.append  # type: ignore[attr-defined]
    mod.not_callable = 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_operator_mod", mod)
    assert operator.load("fake_operator_mod:OPERATOR") is mod.OPERATOR  # type: ignore[attr-defined]
    assert operator.load("fake_operator_mod:setup").name == "append"
    with pytest.raises(operator.OperatorError, match="no attribute"):
        operator.load("fake_operator_mod:missing")
    with pytest.raises(operator.OperatorError, match="neither an Operator"):
        operator.load("fake_operator_mod:not_callable")
    with pytest.raises(operator.OperatorError, match="cannot import"):
        operator.load("no_such_module_here:x")
    with pytest.raises(operator.OperatorError, match="no operator named"):
        operator.load("unknown-name")
    assert operator.select([]) == list(operator.installed().values())
