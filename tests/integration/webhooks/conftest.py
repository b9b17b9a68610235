"""Fixtures for webhooks served by :class:`WebhookServer` and called by the embedded API server.

The API server runs on its own thread (the ``cluster`` fixture); the webhook server runs on
the test's event loop (see ``webhook_e2e.kubectl`` for what that implies).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod
from pilothouse.runtime.webhook.server import WebhookServer
from pilothouse.testing.apiserver import ServerThread


@pytest.fixture
async def webhook_server() -> AsyncIterator[WebhookServer]:
    """A started webhook server with a self-signed certificate, on an ephemeral port."""
    server = WebhookServer("127.0.0.1", 0, registry=CollectorRegistry())
    async with server:
        yield server


@pytest.fixture
async def client(cluster: ServerThread) -> AsyncIterator[client_mod.Client]:
    assert cluster.kubeconfig_path is not None
    config = config_mod.load(kubeconfig=cluster.kubeconfig_path)
    async with client_mod.Client(config) as c:
        yield c
