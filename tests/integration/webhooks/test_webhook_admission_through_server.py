"""Admission webhooks served by :class:`WebhookServer`, registered with the runtime's
registration helpers through the Pilothouse client, and called by the embedded API server
for kubectl's requests."""

from __future__ import annotations

import json
from typing import Any

import pytest
import webhook_e2e
from webhook_e2e import kubectl

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.runtime.webhook.admission import (
    Admission,
    Denied,
    MutatingWebhook,
    ValidatingWebhook,
    Verdict,
)
from pilothouse.runtime.webhook.registration import (
    Rule,
    UrlEndpoint,
    Webhook,
    apply_configurations,
    mutating_configuration,
    validating_configuration,
)
from pilothouse.runtime.webhook.server import WebhookServer
from pilothouse.testing.apiserver import ServerThread

Obj = dict[str, Any]
NAMESPACE = "hooked"
SELECTED = {"matchLabels": {"webhooks": "on"}}
OWNER = "example.com/owner"  # a key that needs JSON pointer escaping (~1)


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool, Obj | None, Obj | None]] = []

    async def validate(self, admission: Admission[Obj]) -> Verdict:
        self.seen.append(
            (admission.operation, admission.dry_run, admission.object, admission.old_object)
        )
        if admission.operation == "DELETE":
            old = admission.old_object or {}
            if (old.get("metadata", {}).get("labels") or {}).get("protected") == "true":
                raise Denied("protected ConfigMaps cannot be deleted")
            return Verdict.allow()
        data = (admission.object or {}).get("data") or {}
        if "forbidden" in data:
            return Verdict.deny("data.forbidden: not allowed here")
        if "legacy" in data:
            return Verdict.allow("data.legacy is deprecated")
        return Verdict.allow()

    async def mutate(self, obj: Obj, admission: Admission[Obj]) -> Obj:
        obj["metadata"].setdefault("labels", {})["mutated-by"] = "pilothouse"
        obj["metadata"].setdefault("annotations", {})[OWNER] = admission.request.user_info.username
        obj.setdefault("data", {}).pop("secret", None)
        return obj


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> str:
    meta: Obj = {"name": name, "namespace": NAMESPACE}
    if labels:
        meta["labels"] = labels
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


@pytest.fixture
async def recorder(
    webhook_server: WebhookServer, cluster: ServerThread, client: client_mod.Client
) -> Recorder:
    rec = Recorder()
    webhook_server.register("/validate-configmaps", ValidatingWebhook(rec.validate))
    webhook_server.register("/mutate-configmaps", MutatingWebhook(rec.mutate))
    endpoint = UrlEndpoint.of(webhook_server)
    ops = ("CREATE", "UPDATE", "DELETE")
    validating = validating_configuration(
        "pilothouse-e2e",
        [
            Webhook(
                "vconfigmap.example.com",
                "/validate-configmaps",
                [Rule.for_kind(kinds.CONFIGMAP, ops)],
                namespace_selector=SELECTED,
            )
        ],
        endpoint,
        webhook_server.ca_pem,
    )
    mutating = mutating_configuration(
        "pilothouse-e2e",
        [
            Webhook(
                "mconfigmap.example.com",
                "/mutate-configmaps",
                [Rule.for_kind(kinds.CONFIGMAP)],
                namespace_selector=SELECTED,
            )
        ],
        endpoint,
        webhook_server.ca_pem,
    )
    stored = await apply_configurations(client, [validating, mutating])
    assert [s["kind"] for s in stored] == [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ]
    await kubectl(cluster, "create", "namespace", NAMESPACE)
    await kubectl(cluster, "label", "namespace", NAMESPACE, "webhooks=on")
    return rec


async def test_webhook_validating_denial_reaches_kubectl(
    recorder: Recorder, cluster: ServerThread, webhook_server: WebhookServer
) -> None:
    proc = await kubectl(
        cluster, "apply", "-f", "-", input=configmap("bad", {"forbidden": "x"}), check=False
    )
    assert proc.returncode != 0
    assert (
        'admission webhook "vconfigmap.example.com" denied the request: '
        "data.forbidden: not allowed here"
    ) in proc.stderr
    proc = await kubectl(cluster, "get", "configmap", "bad", "-n", NAMESPACE, check=False)
    assert "NotFound" in proc.stderr
    # Warnings are printed by kubectl; unselected namespaces are not sent to the webhook.
    proc = await kubectl(cluster, "apply", "-f", "-", input=configmap("old", {"legacy": "1"}))
    assert "Warning: data.legacy is deprecated" in proc.stderr
    calls = len(recorder.seen)
    other = json.loads(configmap("free", {"forbidden": "x"}))
    other["metadata"]["namespace"] = "default"
    await kubectl(cluster, "apply", "-f", "-", input=json.dumps(other))
    assert len(recorder.seen) == calls
    assert webhook_e2e.requests_total(webhook_server, "/validate-configmaps") == calls


async def test_webhook_mutation_is_stored(recorder: Recorder, cluster: ServerThread) -> None:
    await kubectl(cluster, "apply", "-f", "-", input=configmap("cm", {"secret": "s", "plain": "p"}))
    stored = cluster.get_json("configmap", "cm", "-n", NAMESPACE)
    assert stored["metadata"]["labels"] == {"mutated-by": "pilothouse"}
    assert stored["metadata"]["annotations"][OWNER] == "pilothouse-admin"
    assert stored["data"] == {"plain": "p"}
    # The validating webhook ran after the mutation and saw its result.
    operation, dry_run, obj, old = recorder.seen[-1]
    assert (operation, dry_run, old) == ("CREATE", False, None)
    assert obj is not None and obj["metadata"]["labels"] == {"mutated-by": "pilothouse"}


async def test_webhook_update_dry_run_and_delete(recorder: Recorder, cluster: ServerThread) -> None:
    await kubectl(
        cluster,
        "apply",
        "-f",
        "-",
        input=configmap("keep", {"a": "1"}, labels={"protected": "true"}),
    )
    await kubectl(
        cluster,
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        input=configmap("keep", {"a": "2"}, labels={"protected": "true"}),
    )
    operation, dry_run, obj, old = recorder.seen[-1]
    assert (operation, dry_run) == ("UPDATE", True)
    assert obj is not None and old is not None
    assert (obj["data"], old["data"]) == ({"a": "2"}, {"a": "1"})
    assert cluster.get_json("configmap", "keep", "-n", NAMESPACE)["data"] == {"a": "1"}

    proc = await kubectl(cluster, "delete", "configmap", "keep", "-n", NAMESPACE, check=False)
    assert "protected ConfigMaps cannot be deleted" in proc.stderr
    operation, _, obj, old = recorder.seen[-1]
    assert operation == "DELETE" and obj is None
    assert old is not None and old["metadata"]["name"] == "keep"
