"""Fixtures for informer recovery tests: ``informer_env(**ServerConfig)`` starts an embedded
API server with a misbehaving-network proxy in front of it (see ``informer_kit``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import informer_kit
import pytest

from pilothouse.apiserver import server as server_mod

EnvFactory = Callable[..., Awaitable[informer_kit.Env]]


@pytest.fixture
async def informer_env(
    kube_apiserver_factory: Callable[..., Awaitable[server_mod.APIServer]],
) -> AsyncIterator[EnvFactory]:
    envs: list[informer_kit.Env] = []

    async def make(**server_config: Any) -> informer_kit.Env:
        env = await informer_kit.make_env(await kube_apiserver_factory(**server_config))
        envs.append(env)
        return env

    yield make
    for env in reversed(envs):
        await env.close()
