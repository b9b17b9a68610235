"""Session integration fixtures: the test kit's server, but with a simulated cluster
(scheduler, kubelet, Deployment/ReplicaSet controllers, volume binder, garbage collector), so
sessions get real pods that become Running and Ready and claims that become Bound; the
sessions CRDs installed before any manager starts; and ``ops``, the NodeOperation controller
running with short retry times.

A module sets ``SIMULATED_NODES = 2`` for a cluster of that many nodes (one by default), and
``TUNING`` for the NodeOperation controller's retry times."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import pytest
import pytest_asyncio

from pilothouse import crd
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import nodeoperation, nodeops, operator_setup
from pilothouse.testing import eventually, fixtures


@pytest_asyncio.fixture
async def kube_apiserver(
    request: pytest.FixtureRequest,
    kube_apiserver_factory: Callable[..., Awaitable[server_mod.APIServer]],
) -> server_mod.APIServer:
    nodes = getattr(request.module, "SIMULATED_NODES", 1)
    return await kube_apiserver_factory(simulation=True, nodes=nodes)


@pytest_asyncio.fixture
async def sessions_client(kube_client: client_mod.Client) -> client_mod.Client:
    """``kube_client``, with the sessions CRDs installed."""
    for model in operator_setup.CRDS:
        await kube_client.apply(crd.definition(model), field_manager="test", force=True)
    return kube_client


#: NodeOperation retries fast enough for tests.
NODEOPS_TUNING = nodeops.Tuning(retry_base=0.1, retry_max=0.5, poll_interval=0.1)


@pytest_asyncio.fixture
async def ops(
    request: pytest.FixtureRequest,
    kube_client: client_mod.Client,
    make_manager: Callable[..., fixtures.ManagerHandle],
) -> client_mod.Client:
    """The NodeOperation CRD installed and its controller running; every node registered."""
    await kube_client.apply(crd.definition(nodeoperation.NodeOperation), field_manager="test")
    want = getattr(request.module, "SIMULATED_NODES", 1)

    async def nodes_up() -> bool:
        return len((await kube_client.list(nodeops.NODE)).items) == want

    await eventually.eventually_async(nodes_up)
    tuning = getattr(request.module, "TUNING", NODEOPS_TUNING)
    handle = make_manager(functools.partial(nodeops.setup, tuning=tuning))
    handle.start()
    await handle.wait_started()
    return kube_client
