"""Session integration fixtures: the test kit's server, but with a simulated one-node cluster
(scheduler, kubelet, Deployment/ReplicaSet controllers, volume binder, garbage collector), so
sessions get real pods that become Running and Ready and claims that become Bound; and the
sessions CRDs installed before any manager starts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest_asyncio

from pilothouse import crd
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.operators.sessions import operator_setup


@pytest_asyncio.fixture
async def kube_apiserver(
    kube_apiserver_factory: Callable[..., Awaitable[server_mod.APIServer]],
) -> server_mod.APIServer:
    return await kube_apiserver_factory(simulation=True, nodes=1)


@pytest_asyncio.fixture
async def sessions_client(kube_client: client_mod.Client) -> client_mod.Client:
    """``kube_client``, with the sessions CRDs installed."""
    for model in operator_setup.CRDS:
        await kube_client.apply(crd.definition(model), field_manager="test", force=True)
    return kube_client
