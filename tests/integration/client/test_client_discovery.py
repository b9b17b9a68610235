"""Discovery: concurrent first uses of an unknown kind share one request."""

from __future__ import annotations

import asyncio

import pytest

from pilothouse.client import client as client_mod
from pilothouse.client import errors


async def test_concurrent_kind_lookups_send_one_discovery_request(
    kube_client: client_mod.Client,
) -> None:
    before = kube_client.requests
    found = await asyncio.gather(
        *(kube_client.kind_for("apps/v1", "ControllerRevision") for _ in range(20))
    )
    assert {k.plural for k in found} == {"controllerrevisions"}
    assert kube_client.requests - before == 1
    # Cached afterwards; an unknown kind in a known group version re-asks once, then fails.
    await kube_client.kind_for("apps/v1", "ControllerRevision")
    assert kube_client.requests - before == 1
    with pytest.raises(errors.NotFound, match="no kind"):
        await kube_client.kind_for("apps/v1", "Nope")


async def test_failed_discovery_reaches_every_waiter(kube_client: client_mod.Client) -> None:
    results = await asyncio.gather(
        *(kube_client.kind_for("nothing.example.com/v1", "Thing") for _ in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(r, errors.NotFound) for r in results)
