"""Helpers shared by the webhook end-to-end tests.

The API server runs on its own thread (the ``cluster`` fixture) and the webhook server on the
test's event loop, so anything that waits for the API server -- kubectl above all -- must run
off the test's loop (:func:`kubectl`), or the webhook could not answer.
"""

from __future__ import annotations

import asyncio
import base64
import subprocess
from typing import Any

from pilothouse.runtime.webhook.server import WebhookServer
from pilothouse.testing.apiserver import ServerThread


async def kubectl(
    cluster: ServerThread, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``cluster.kubectl`` on a worker thread, so this loop keeps serving webhooks."""
    return await asyncio.to_thread(cluster.kubectl, *args, input=input, check=check)


def requests_total(server: WebhookServer, path: str, code: str = "200") -> float:
    value: Any = server.registry.get_sample_value(
        "controller_runtime_webhook_requests_total", {"webhook": path, "code": code}
    )
    return float(value or 0)


def ca_bundle(server: WebhookServer) -> str:
    assert server.ca_pem is not None
    return base64.b64encode(server.ca_pem).decode()
