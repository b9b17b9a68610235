"""Behaviour: two managers with leader election -- one reconciles; when the leader is cut
off it halts before the other may take over, and the other takes over within the lease
duration; a graceful stop releases the Lease for an immediate handover."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import widgets

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.runtime import controller as controller_mod
from pilothouse.runtime import reconcile
from pilothouse.testing import eventually, fixtures

LEASE = {"lease_duration": 1.5, "renew_deadline": 1.0, "retry_period": 0.2}


class Recording:
    """Records (identity, monotonic time) of every reconcile start."""

    def __init__(self, identity: str, log: list[tuple[str, float]]) -> None:
        self.identity = identity
        self.log = log

    async def reconcile(self, request: reconcile.Request) -> reconcile.Result | None:
        self.log.append((self.identity, time.monotonic()))
        return None


def manager(
    make_manager: Callable[..., fixtures.ManagerHandle], identity: str, log: list[Any]
) -> fixtures.ManagerHandle:
    h = make_manager(leader_election=True, identity=identity, **LEASE)
    h.manager.builder().for_(widgets.WIDGET).complete(Recording(identity, log))
    return h


async def test_one_leader_then_failover_without_overlap(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await kube_client.create(widgets.CRD)
    log: list[tuple[str, float]] = []
    a = manager(make_manager, "a", log).start()
    await eventually.eventually_async(lambda: _leading(a))
    b = manager(make_manager, "b", log).start()
    await kube_client.create(widgets.widget("w1", {}))
    await eventually.eventually_async(lambda: _async(any(who == "a" for who, _ in log)))
    assert not b.manager.is_leader and all(who == "a" for who, _ in log)

    # Cut the leader off from the API server (a partition): its renewals fail.
    async def partitioned(*args: Any, **kw: Any) -> Any:
        raise aiohttp.ClientConnectionError("partitioned")

    a.manager.client.request = partitioned  # type: ignore[method-assign]
    cut = time.monotonic()
    await eventually.eventually_async(lambda: _async(not a.manager.is_leader), timeout=5)
    a_stopped = time.monotonic()
    assert a_stopped - cut <= LEASE["renew_deadline"] + LEASE["retry_period"] + 0.5
    await eventually.eventually_async(lambda: _leading(b), timeout=10)
    b_leads = time.monotonic()
    # The old leader stopped before the new one started; failover within lease duration
    # (+ the new candidate's jittered retry period and observation lag).
    assert a_stopped < b_leads
    # (leaseDurationSeconds is whole seconds: a 1.5 s lease is written as 2.)
    lease = math.ceil(LEASE["lease_duration"])
    assert b_leads - cut <= lease + 3 * LEASE["retry_period"] + 1.0
    assert a.task is not None
    await eventually.eventually_async(lambda: _async(a.task is not None and a.task.done()))

    await kube_client.patch(
        widgets.WIDGET, "w1", {"metadata": {"labels": {"x": "1"}}}, namespace="default"
    )
    await eventually.eventually_async(lambda: _async(any(w == "b" for w, _ in log)))
    assert not [t for who, t in log if who == "a" and t > a_stopped]


async def test_graceful_stop_releases_the_lease(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    await kube_client.create(widgets.CRD)
    log: list[tuple[str, float]] = []
    a = manager(make_manager, "a", log).start()
    await eventually.eventually_async(lambda: _leading(a))
    b = manager(make_manager, "b", log).start()
    await b.wait_started()
    stopped = time.monotonic()
    await a.stop()
    lease = await kube_client.get(kinds.LEASE, "pilothouse-manager", "default")
    assert not lease["spec"].get("holderIdentity")
    await eventually.eventually_async(lambda: _leading(b), timeout=5)
    # Released: no waiting out the 1.5 s lease; the successor's next retry takes it.
    assert time.monotonic() - stopped < LEASE["lease_duration"]


async def _async(value: bool) -> bool:
    return value


async def _leading(h: fixtures.ManagerHandle) -> bool:
    return h.manager.is_leader


async def test_controllers_that_cannot_sync_fail_the_manager(
    kube_client: client_mod.Client, make_manager: Callable[..., fixtures.ManagerHandle]
) -> None:
    # No CRD for widgets: the informer can never list, with or without leader election.
    for options in ({}, {"leader_election": True, "identity": "x", **LEASE}):
        h = make_manager(cache_sync_timeout=0.5, **options)
        h.manager.builder().for_(widgets.WIDGET).complete(Recording("x", []))
        with pytest.raises(controller_mod.CacheSyncTimeout, match=r"widgets\.example\.com"):
            await asyncio.wait_for(h.manager.run(), 10)
