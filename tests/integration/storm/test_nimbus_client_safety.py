"""The client's safety contract: non-idempotent calls are checked before they are repeated.

A scripted Nimbus (``testing.thriftfake``) applies a call and then drops the connection
without answering: the case where only asking Nimbus tells whether the call happened.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pilothouse.operators.storm.nimbus import client as client_mod
from pilothouse.operators.storm.nimbus import errors, idl, retry
from pilothouse.testing import thriftfake


class Topologies:
    """Just enough of Nimbus's topology table for the calls under test."""

    def __init__(self) -> None:
        self.by_name: dict[str, Any] = {}
        self.drop_next: set[str] = set()

    def _summary(self, name: str, status: str) -> Any:
        return idl.storm.TopologySummary(
            id=f"{name}-1-{int(time.time())}",
            name=name,
            num_tasks=1,
            num_executors=1,
            num_workers=1,
            uptime_secs=0,
            status=status,
        )

    def _maybe_drop(self, method: str, value: Any = None) -> Any:
        if method in self.drop_next:
            self.drop_next.discard(method)
            return thriftfake.DROP
        return value

    def submit(self, args: Any) -> Any:
        if args.name in self.by_name:
            raise idl.storm.AlreadyAliveException(msg=f"Topology with name `{args.name}` exists")
        if args.uploadedJarLocation == "gone.jar":
            raise thriftfake.ApplicationFailure(f"{args.uploadedJarLocation} does not exist")
        self.by_name[args.name] = self._summary(args.name, "ACTIVE")
        return self._maybe_drop("submitTopologyWithOpts")

    def kill(self, args: Any) -> Any:
        if args.name not in self.by_name:
            raise idl.storm.NotAliveException(msg=args.name)
        self.by_name[args.name].status = "KILLED"
        return self._maybe_drop("killTopologyWithOpts")

    def activate(self, args: Any) -> Any:
        if args.name not in self.by_name:
            raise idl.storm.NotAliveException(msg=args.name)
        self.by_name[args.name].status = "ACTIVE"
        return self._maybe_drop("activate")

    def by_name_or_fail(self, args: Any) -> Any:
        if args.name not in self.by_name:
            raise thriftfake.ApplicationFailure(f"NotAliveException: {args.name}")
        return self.by_name[args.name]

    def handlers(self) -> dict[str, Any]:
        return {
            "submitTopologyWithOpts": self.submit,
            "killTopologyWithOpts": self.kill,
            "activate": self.activate,
            "getTopologySummaryByName": self.by_name_or_fail,
            "getTopologySummaries": lambda args: list(self.by_name.values()),
        }


FAST = retry.RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


@contextlib.asynccontextmanager
async def nimbus(
    handlers: dict[str, Any],
) -> AsyncIterator[tuple[thriftfake.FakeNimbus, client_mod.NimbusClient]]:
    async with thriftfake.FakeNimbus(handlers) as fake:
        c = client_mod.NimbusClient.connect([str(fake.endpoint)], retry=FAST)
        async with c:
            yield fake, c


def _topology() -> Any:
    return idl.storm.StormTopology(spouts={}, bolts={}, state_spouts={})


async def test_a_submit_that_happened_but_lost_its_answer_is_not_repeated() -> None:
    table = Topologies()
    table.drop_next.add("submitTopologyWithOpts")
    async with nimbus(table.handlers()) as (fake, c):
        summary = await c.submit("words", "in.jar", _topology(), {"topology.workers": 1})
        assert summary.name == "words"
        assert fake.calls["submitTopologyWithOpts"] == 1


async def test_a_submit_that_did_not_happen_is_made_again() -> None:
    table = Topologies()
    calls = 0

    def lose_first(args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            return thriftfake.DROP  # dropped before Nimbus registered anything
        return table.submit(args)

    handlers = table.handlers() | {"submitTopologyWithOpts": lose_first}
    async with nimbus(handlers) as (fake, c):
        summary = await c.submit("words", "in.jar", _topology(), {})
        assert summary.name == "words"
        assert fake.calls["submitTopologyWithOpts"] == 2


async def test_a_duplicate_name_is_the_callers_error_not_a_retry() -> None:
    table = Topologies()
    async with nimbus(table.handlers()) as (fake, c):
        await c.submit("words", "in.jar", _topology(), {})
        with pytest.raises(errors.AlreadyAliveError, match="words"):
            await c.submit("words", "in.jar", _topology(), {})
        assert fake.calls["submitTopologyWithOpts"] == 2


async def test_a_kill_that_happened_is_not_repeated_and_an_activate_is() -> None:
    table = Topologies()
    async with nimbus(table.handlers()) as (fake, c):
        await c.submit("words", "in.jar", _topology(), {})
        table.drop_next.add("killTopologyWithOpts")
        await c.kill("words", wait_secs=0)
        assert fake.calls["killTopologyWithOpts"] == 1
        assert table.by_name["words"].status == "KILLED"
        table.drop_next.add("activate")
        await c.activate("words")
        assert fake.calls["activate"] == 2  # idempotent: simply retried


async def test_unknown_names_read_as_none_and_fail_state_changes_clearly() -> None:
    table = Topologies()
    async with nimbus(table.handlers()) as (_, c):
        assert await c.topology_summary_by_name("nope") is None
        with pytest.raises(errors.NotAliveError, match="nope"):
            await c.kill("nope")
        with pytest.raises(errors.NotAliveError, match="no topology named 'nope'"):
            await c.topology_info_by_name("nope")


async def test_bad_arguments_are_refused_before_anything_is_sent() -> None:
    async with nimbus(Topologies().handlers()) as (fake, c):
        with pytest.raises(ValueError, match="ACTIVE or INACTIVE"):
            await c.submit("w", "in.jar", _topology(), {}, initial_status="PAUSED")
        with pytest.raises(ValueError, match="num_workers"):
            await c.rebalance("w", num_workers=0)
        with pytest.raises(ValueError, match="executors of 'split'"):
            await c.rebalance("w", executors={"split": 0})
        with pytest.raises(FileNotFoundError, match="no such JAR"):
            await c.upload_jar("/nonexistent/x.jar")
        assert fake.calls["submitTopologyWithOpts"] == 0
        assert fake.calls["rebalance"] == 0
