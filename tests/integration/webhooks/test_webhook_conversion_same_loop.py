"""A conversion webhook served on the API server's own event loop, as operator tests run them
(API server, manager and webhook server in one loop): every read and write that converts
must answer promptly, which it can only do if the server awaits the webhook instead of
blocking its loop on it (a blocked loop could not serve the webhook: 30 s timeout)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar, cast

import aiohttp
import orjson
import pytest
import webhook_e2e

from pilothouse.api import kinds
from pilothouse.apiserver import server as server_mod
from pilothouse.client import client as client_mod
from pilothouse.client import errors as client_errors
from pilothouse.runtime.webhook.conversion import ConversionRegistry, ConversionWebhook
from pilothouse.runtime.webhook.registration import UrlEndpoint, patch_crd_conversion
from pilothouse.runtime.webhook.server import WebhookServer
from pilothouse.testing.fixtures import client_config

Obj = dict[str, Any]
T = TypeVar("T")

GROUP = "sameloop.example.com"
CRD_NAME = f"gadgets.{GROUP}"
V1 = kinds.Kind(GROUP, "v1", "Gadget", "gadgets", True)
V2 = kinds.Kind(GROUP, "v2", "Gadget", "gadgets", True)
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
#: Far below the conversion webhook's 30 s timeout, far above any honest answer.
PROMPT = 5.0


async def prompt(call: Awaitable[T]) -> T:
    return await asyncio.wait_for(call, PROMPT)


def v1_to_v2(obj: Obj) -> Obj:
    size = obj.get("spec", {}).get("size", 0)
    if size == 13:
        raise ValueError("size 13 is unlucky")
    obj["spec"] = {"size": {"value": size, "unit": "Gi"}}
    return obj


def v2_to_v1(obj: Obj) -> Obj:
    size = obj.get("spec", {}).get("size", {})
    obj["spec"] = {"size": size.get("value", 0)}
    return obj


def crd() -> Obj:
    """v1 is the storage version: v1 objects are stored as sent, v2 reads and writes convert."""

    def version(name: str, size: Obj) -> Obj:
        schema = {
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {"size": size}}},
        }
        return {
            "name": name,
            "served": True,
            "storage": name == "v1",
            "schema": {"openAPIV3Schema": schema},
        }

    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "scope": "Namespaced",
            "versions": [
                version("v1", {"type": "integer"}),
                version(
                    "v2",
                    {
                        "type": "object",
                        "properties": {"value": {"type": "integer"}, "unit": {"type": "string"}},
                    },
                ),
            ],
        },
    }


def gadget(kind: kinds.Kind, name: str, spec: Obj) -> Obj:
    return {
        "apiVersion": kind.api_version,
        "kind": "Gadget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


class Gate:
    """A conversion webhook that can be made to hold its answers until released."""

    def __init__(self, inner: ConversionWebhook) -> None:
        self.inner = inner
        self.closed = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def serve(self, document: Any) -> Obj:
        if self.closed:
            self.entered.set()
            await self.release.wait()
        return await self.inner.serve(document)


@pytest.fixture
async def apiserver() -> AsyncIterator[server_mod.APIServer]:
    """The API server on the test's own event loop."""
    srv = server_mod.APIServer(server_mod.ServerConfig(simulation=False))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def client(apiserver: server_mod.APIServer) -> AsyncIterator[client_mod.Client]:
    async with client_mod.Client(client_config(apiserver)) as c:
        yield c


@pytest.fixture
async def gate(webhook_server: WebhookServer, client: client_mod.Client) -> Gate:
    """The CRD, switched to the conversion webhook the way an operator does it."""
    registry = ConversionRegistry()
    registry.kind(GROUP, "Gadget", hub="v2").spoke("v1", to_hub=v1_to_v2, from_hub=v2_to_v1)
    gate = Gate(ConversionWebhook(registry))
    webhook_server.register("/convert", gate)
    await prompt(client.create(crd()))
    updated = await prompt(
        patch_crd_conversion(
            client, CRD_NAME, webhook_server.ca_pem, endpoint=UrlEndpoint.of(webhook_server)
        )
    )
    assert updated["spec"]["conversion"]["strategy"] == "Webhook"
    return gate


def reviews(server: WebhookServer) -> float:
    return webhook_e2e.requests_total(server, "/convert")


def stored(apiserver: server_mod.APIServer, name: str) -> Obj:
    assert apiserver.state is not None
    rec = apiserver.state.store.get(CRD_NAME, "default", name)
    assert rec is not None
    result: Obj = rec.obj()
    return result


async def test_reads_and_writes_through_a_webhook_on_the_same_loop(
    gate: Gate,
    webhook_server: WebhookServer,
    client: client_mod.Client,
    apiserver: server_mod.APIServer,
) -> None:
    for i in (1, 2):
        await prompt(client.create(gadget(V1, f"g{i}", {"size": i})))
    assert reviews(webhook_server) == 0  # v1 is stored as sent

    # GET as v2.
    got = await prompt(client.get(V2, "g1"))
    assert got["apiVersion"] == f"{GROUP}/v2"
    assert got["spec"] == {"size": {"value": 1, "unit": "Gi"}}
    assert reviews(webhook_server) == 1

    # LIST as v2: one review for the page, as JSON and as a Table.
    listed = await prompt(client.list(V2))
    assert [(o["apiVersion"], o["spec"]["size"]["value"]) for o in listed.items] == [
        (f"{GROUP}/v2", 1),
        (f"{GROUP}/v2", 2),
    ]
    assert reviews(webhook_server) == 2
    table = await prompt(client.request("GET", V2.path("default"), accept=TABLE))
    assert [row["object"]["metadata"]["name"] for row in table["rows"]] == ["g1", "g2"]
    assert reviews(webhook_server) == 3

    # WATCH as v2: the initial events, then a change written as v2.
    events = cast(AsyncGenerator[Any, None], client.watch(V2, "default", allow_bookmarks=False))
    initial = [await prompt(anext(events)) for _ in range(2)]
    assert [(e.type, e.object["spec"]["size"]["value"]) for e in initial] == [
        ("ADDED", 1),
        ("ADDED", 2),
    ]
    assert {e.object["apiVersion"] for e in initial} == {f"{GROUP}/v2"}

    # Writes as v2: merge patch, update, server-side apply, create; stored as v1.
    patched = await prompt(client.patch(V2, "g1", {"spec": {"size": {"value": 10}}}))
    assert patched["apiVersion"] == f"{GROUP}/v2"
    assert patched["spec"]["size"] == {"value": 10, "unit": "Gi"}
    assert stored(apiserver, "g1")["spec"] == {"size": 10}
    modified = await prompt(anext(events))
    assert modified.type == "MODIFIED" and modified.object["apiVersion"] == f"{GROUP}/v2"
    assert modified.object["spec"]["size"] == {"value": 10, "unit": "Gi"}
    await events.aclose()

    current = await prompt(client.get(V2, "g2"))
    current["spec"]["size"]["value"] = 20
    updated = await prompt(client.update(current))
    assert updated["apiVersion"] == f"{GROUP}/v2" and updated["spec"]["size"]["value"] == 20
    assert stored(apiserver, "g2")["spec"] == {"size": 20}

    applied = await prompt(
        client.apply(gadget(V2, "g2", {"size": {"value": 21}}), field_manager="test", force=True)
    )
    assert applied["apiVersion"] == f"{GROUP}/v2" and applied["spec"]["size"]["value"] == 21
    assert stored(apiserver, "g2")["spec"] == {"size": 21}

    created = await prompt(client.create(gadget(V2, "g3", {"size": {"value": 3}})))
    assert created["apiVersion"] == f"{GROUP}/v2"
    assert created["spec"]["size"] == {"value": 3, "unit": "Gi"}
    assert stored(apiserver, "g3")["apiVersion"] == f"{GROUP}/v1"

    # A dry run answers in the version asked for, after the round trip through storage.
    before = reviews(webhook_server)
    dry = await prompt(client.create(gadget(V2, "g4", {"size": {"value": 4}}), dry_run=True))
    assert dry["apiVersion"] == f"{GROUP}/v2"
    assert dry["spec"]["size"] == {"value": 4, "unit": "Gi"}  # the unit comes back from v1
    assert reviews(webhook_server) == before + 2
    assert apiserver.state is not None
    assert apiserver.state.store.get(CRD_NAME, "default", "g4") is None
    dry_v1 = await prompt(client.create(gadget(V1, "g5", {"size": 5}), dry_run=True))
    assert dry_v1["apiVersion"] == f"{GROUP}/v1" and dry_v1["spec"] == {"size": 5}

    # DELETE as v2 answers with the object in v2.
    deleted = await prompt(client.delete(V2, "g3"))
    assert deleted is not None and deleted["apiVersion"] == f"{GROUP}/v2"
    assert deleted["spec"]["size"]["value"] == 3


async def test_a_waiting_webhook_does_not_hold_up_other_requests(
    gate: Gate, webhook_server: WebhookServer, client: client_mod.Client
) -> None:
    await prompt(client.create(gadget(V1, "g", {"size": 1})))
    gate.closed = True
    pending = asyncio.ensure_future(client.get(V2, "g"))
    await prompt(gate.entered.wait())
    # The server is waiting for the webhook; everything else is still answered.
    assert (await prompt(client.get(V1, "g")))["spec"] == {"size": 1}
    namespaces = await prompt(client.request("GET", "/api/v1/namespaces"))
    assert "default" in [n["metadata"]["name"] for n in namespaces["items"]]
    assert not pending.done()
    gate.release.set()
    got = await prompt(pending)
    assert got["spec"]["size"] == {"value": 1, "unit": "Gi"}


async def test_conversion_failures_answer_promptly(
    gate: Gate, apiserver: server_mod.APIServer, client: client_mod.Client
) -> None:
    """A webhook refusing to convert fails the request with kube's 500 at once; in a watch,
    as an ERROR event carrying that Status, which ends the stream."""
    await prompt(client.create(gadget(V1, "ok", {"size": 1})))
    message = (
        f"conversion webhook for {GROUP}/v1, Kind=Gadget failed: converting Gadget "
        f"'default/bad' to {GROUP}/v2: ValueError: size 13 is unlucky"
    )
    config = client_config(apiserver)
    assert config.ssl_context is not None
    headers = {"Authorization": await config.auth.header() or ""}
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            config.server + V2.path("default"),
            params={"watch": "1"},
            headers=headers,
            ssl=config.ssl_context,
        ) as resp,
    ):
        assert resp.status == 200
        first = orjson.loads(await prompt(resp.content.readline()))
        assert first["type"] == "ADDED"
        assert first["object"]["spec"]["size"] == {"value": 1, "unit": "Gi"}
        await prompt(client.create(gadget(V1, "bad", {"size": 13})))
        # The rest of the stream: the ERROR event, then the end.
        rest = [orjson.loads(line) for line in (await prompt(resp.content.read())).splitlines()]
    assert rest == [
        {
            "type": "ERROR",
            "object": {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "code": 500,
            },
        }
    ]

    with pytest.raises(client_errors.ApiError) as raised:
        await prompt(client.get(V2, "bad"))
    assert raised.value.code == 500 and raised.value.message == message
    with pytest.raises(client_errors.ApiError) as raised:
        await prompt(client.list(V2))
    assert raised.value.code == 500 and raised.value.message == message
    # The storage version needs no webhook.
    assert (await prompt(client.get(V1, "bad")))["spec"] == {"size": 13}
