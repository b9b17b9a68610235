"""Admission webhooks called by the embedded API server, end to end.

A real HTTPS webhook server (aiohttp, certificate from :mod:`pilothouse.pki` for 127.0.0.1) runs
on its own thread and loop; webhook configurations point at it by URL with the CA as
``caBundle``; requests go through the API server with raw HTTPS and with kubectl.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import yaml
from aiohttp import web

from pilothouse import pki
from pilothouse.testing.apiserver import ServerThread
from pilothouse.testing.eventually import eventually
from pilothouse.testing.http import RawClient, Response

T = TypeVar("T")

GROUP = "hooks.example.com"
DENY = "deny.hooks.example.com"
MUTATE = "mutate.hooks.example.com"
DENY_MESSAGE = "ConfigMaps labelled deny=true are not allowed"
DENIED = f'admission webhook "{DENY}" denied the request: {DENY_MESSAGE}'
BREAK_ANNOTATION = f"{GROUP}/break"
VWC = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
SELECTED = {"matchLabels": {"webhooks": "enabled"}}


def cms(namespace: str, name: str = "") -> str:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    return f"{base}/{name}" if name else base


def widgets(namespace: str) -> str:
    return f"/apis/{GROUP}/v1/namespaces/{namespace}/widgets"


@dataclass(frozen=True)
class Review:
    """One AdmissionReview request the webhook server received."""

    hook: str  # "validate", "mutate" or "hang"
    timeout: str | None  # the ?timeout= the API server appended
    request: dict[str, Any]

    @property
    def object(self) -> dict[str, Any]:
        return self.request.get("object") or {}

    @property
    def labels(self) -> dict[str, str]:
        return (self.object.get("metadata") or {}).get("labels") or {}


class WebhookServer:
    """An HTTPS admission webhook server on a thread and event loop of its own.

    ``/validate`` denies objects labelled ``deny=true`` (and warns about a ``warn`` label),
    ``/mutate`` adds the label ``mutated=yes`` with a JSONPatch (plus ``spec.size: 3`` on a
    Widget without one, and an invalid label when annotated ``hooks.example.com/break``),
    ``/hang`` answers only when the server stops.
    """

    def __init__(self) -> None:
        self.ca = pki.CertificateAuthority.generate("webhook-ca")
        cert, key = pki.issue_server_cert(self.ca, ["127.0.0.1"])
        self._ssl = pki.ssl_server_context(cert, key)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="webhook-server", daemon=True
        )
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._reviews: list[Review] = []
        self.port = 0

    @property
    def ca_bundle(self) -> str:
        return base64.b64encode(self.ca.cert_pem).decode()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def reviews(self, hook: str | None = None) -> list[Review]:
        with self._lock:
            return [r for r in self._reviews if hook is None or r.hook == hook]

    def clear(self) -> None:
        with self._lock:
            self._reviews.clear()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def stop(self) -> None:
        try:
            self._call(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_post("/validate", self._validate)
        app.router.add_post("/mutate", self._mutate)
        app.router.add_post("/hang", self._hang)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        assert self._release is not None and self._runner is not None
        self._release.set()  # hung requests answer (to callers that are long gone)
        server = self._runner.server
        transports = [h.transport for h in (server.connections if server else ())]
        await self._runner.cleanup()
        # A TLS close waits for the peer's close_notify, which the API server's idle keep-alive
        # connections never send: abort what is left, then let the closing callbacks run.
        for transport in transports:
            if transport is not None:
                transport.abort()
        for _ in range(3):
            await asyncio.sleep(0)

    async def _receive(self, hook: str, request: web.Request) -> dict[str, Any]:
        review = await request.json()
        assert review["apiVersion"] == "admission.k8s.io/v1"
        assert review["kind"] == "AdmissionReview"
        req: dict[str, Any] = review["request"]
        with self._lock:
            self._reviews.append(Review(hook, request.query.get("timeout"), req))
        return req

    @staticmethod
    def _answer(response: dict[str, Any]) -> web.Response:
        return web.json_response(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        )

    async def _validate(self, request: web.Request) -> web.Response:
        req = await self._receive("validate", request)
        obj = req.get("object") or req.get("oldObject") or {}
        labels = (obj.get("metadata") or {}).get("labels") or {}
        response: dict[str, Any] = {"uid": req["uid"], "allowed": True}
        if labels.get("deny") == "true":
            response = {"uid": req["uid"], "allowed": False, "status": {"message": DENY_MESSAGE}}
        if "warn" in labels:
            response["warnings"] = [f"about {labels['warn']}"]
        return self._answer(response)

    async def _mutate(self, request: web.Request) -> web.Response:
        req = await self._receive("mutate", request)
        obj = req["object"]
        meta = obj.get("metadata") or {}
        ops: list[dict[str, Any]] = []
        if not meta.get("labels"):
            ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
        ops.append({"op": "add", "path": "/metadata/labels/mutated", "value": "yes"})
        if obj.get("kind") == "Widget" and "size" not in (obj.get("spec") or {}):
            ops.append({"op": "add", "path": "/spec/size", "value": 3})
            ops.append({"op": "add", "path": "/spec/extra", "value": {}})
        if (meta.get("annotations") or {}).get(BREAK_ANNOTATION) == "true":
            ops.append({"op": "add", "path": "/metadata/labels/broken", "value": "not valid!"})
        patch = base64.b64encode(json.dumps(ops).encode()).decode()
        return self._answer(
            {"uid": req["uid"], "allowed": True, "patchType": "JSONPatch", "patch": patch}
        )

    async def _hang(self, request: web.Request) -> web.Response:
        req = await self._receive("hang", request)
        assert self._release is not None
        await self._release.wait()
        return self._answer({"uid": req["uid"], "allowed": True})


def _rule(
    *resources: str, group: str = "", operations: tuple[str, ...] = ("CREATE", "UPDATE")
) -> Any:
    return {
        "apiGroups": [group],
        "apiVersions": ["v1"],
        "operations": list(operations),
        "resources": list(resources),
        "scope": "Namespaced",
    }


def _webhook(name: str, url: str, ca_bundle: str, **extra: Any) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": name,
        "clientConfig": {"url": url, "caBundle": ca_bundle},
        "rules": [_rule("configmaps"), _rule("widgets", group=GROUP)],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    }
    hook.update(extra)
    return hook


def _register(raw: RawClient, kind_path: str, name: str, *hooks: dict[str, Any]) -> None:
    resp = raw.request("POST", kind_path, {"metadata": {"name": name}, "webhooks": list(hooks)})
    assert resp.status == 201, resp.body


def _namespace(raw: RawClient, name: str, **labels: str) -> None:
    body = {"metadata": {"name": name, "labels": labels}}
    assert raw.request("POST", "/api/v1/namespaces", body).status == 201


def _cm(name: str, labels: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "data": {"k": "v"}}


def _dead_url(path: str) -> str:
    """An https URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"https://127.0.0.1:{port}{path}"


def _assert_status(resp: Response, code: int, message: str, reason: str | None = None) -> None:
    body = resp.json()
    assert resp.status == code, body
    assert body["kind"] == "Status" and body["status"] == "Failure", body
    assert body["code"] == code and body["message"] == message, body
    if reason is not None:
        assert body.get("reason") == reason, body


@dataclass
class Env:
    cluster: ServerThread
    raw: RawClient
    hooks: WebhookServer


@pytest.fixture
def webhooks() -> Iterator[WebhookServer]:
    server = WebhookServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(cluster: ServerThread, webhooks: WebhookServer) -> Env:
    """The cluster with both webhooks registered for the namespaces labelled
    ``webhooks=enabled``, and one such namespace: ``hooked``."""
    raw = RawClient(cluster)
    _namespace(raw, "hooked", webhooks="enabled")
    bundle = webhooks.ca_bundle
    _register(
        raw,
        MWC,
        "mutate",
        _webhook(MUTATE, webhooks.url("/mutate"), bundle, namespaceSelector=SELECTED),
    )
    _register(
        raw,
        VWC,
        "deny",
        _webhook(DENY, webhooks.url("/validate"), bundle, namespaceSelector=SELECTED),
    )
    return Env(cluster, raw, webhooks)


def test_denied_create_is_the_webhooks_error_and_nothing_is_stored(env: Env) -> None:
    resp = env.raw.request("POST", cms("hooked"), _cm("no", {"deny": "true"}))
    # Exactly kube-apiserver's Status: the webhook gave no code (so 400) and no reason.
    assert resp.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": DENIED,
        "code": 400,
    }
    assert env.raw.request("GET", cms("hooked", "no")).status == 404
    assert env.raw.request("GET", cms("hooked")).json()["items"] == []
    # Both webhooks were asked; the validating one saw the object the mutating one made.
    [mutate] = env.hooks.reviews("mutate")
    [validate] = env.hooks.reviews("validate")
    assert mutate.labels == {"deny": "true"}
    assert validate.labels == {"deny": "true", "mutated": "yes"}

    # kubectl shows the webhook's own words.
    manifest = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", **_cm("kc", {"deny": "true"})}
    )
    proc = env.cluster.kubectl("create", "-n", "hooked", "-f", "-", input=manifest, check=False)
    assert proc.returncode != 0
    assert f'error when creating "STDIN": {DENIED}' in proc.stderr
    assert env.raw.request("GET", cms("hooked", "kc")).status == 404


def test_allowed_create_is_mutated_and_reviews_are_complete(env: Env) -> None:
    resp = env.raw.request("POST", cms("hooked"), _cm("yes", {"warn": "this"}))
    assert resp.status == 201, resp.body
    created = resp.json()
    assert created["metadata"]["labels"] == {"warn": "this", "mutated": "yes"}
    assert resp.header("Warning") == ['299 - "about this"']
    stored = env.raw.request("GET", cms("hooked", "yes")).json()
    assert stored["metadata"]["labels"] == {"warn": "this", "mutated": "yes"}

    [mutate] = env.hooks.reviews("mutate")
    [validate] = env.hooks.reviews("validate")
    for review in (mutate, validate):
        req = review.request
        assert review.timeout == "10s"
        assert req["operation"] == "CREATE" and req["dryRun"] is False
        assert req["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
        assert req["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
        assert req["requestKind"] == req["kind"] and req["requestResource"] == req["resource"]
        assert (req["namespace"], req["name"]) == ("hooked", "yes")
        assert req["oldObject"] is None
        assert req["options"]["kind"] == "CreateOptions"
        assert req["uid"] and "system:authenticated" in req["userInfo"]["groups"]
    assert mutate.request["uid"] != validate.request["uid"]
    assert validate.labels == {"warn": "this", "mutated": "yes"}

    # Updates are admitted too: a denied change leaves the stored object as it was.
    env.hooks.clear()
    patch = {"metadata": {"labels": {"deny": "true"}}}
    denied = env.raw.request(
        "PATCH",
        cms("hooked", "yes"),
        patch,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    _assert_status(denied, 400, DENIED)
    after = env.raw.request("GET", cms("hooked", "yes")).json()
    assert after["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]
    [update] = env.hooks.reviews("validate")
    assert update.request["operation"] == "UPDATE"
    assert update.request["options"]["kind"] == "UpdateOptions"
    assert update.request["oldObject"]["metadata"]["labels"] == stored["metadata"]["labels"]

    # kubectl: created through the same pipeline, label included.
    env.cluster.kubectl("create", "configmap", "viakubectl", "-n", "hooked", "--from-literal=a=b")
    label = env.cluster.kubectl(
        "get", "configmap", "viakubectl", "-n", "hooked", "-o", "jsonpath={.metadata.labels}"
    )
    assert json.loads(label.stdout) == {"mutated": "yes"}


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "extra": {
                                        "type": "object",
                                        "properties": {
                                            "mode": {"type": "string", "default": "auto"}
                                        },
                                    },
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_mutation_runs_before_schema_validation(env: Env) -> None:
    raw = env.raw
    assert raw.request("POST", CRDS, WIDGET_CRD).status == 201
    eventually(lambda: raw.request("GET", widgets("hooked")).status == 200, message="CRD served")
    _namespace(raw, "plain")
    widget = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "spec": {}}

    # Without the webhook the schema refuses the widget: spec.size is required.
    refused = raw.request("POST", widgets("plain"), {**widget, "metadata": {"name": "w"}})
    assert refused.status == 422, refused.body
    assert "spec.size: Required value" in refused.json()["message"]

    # With it, the mutating webhook supplies spec.size before the schema is checked, and the
    # validating webhook is shown the mutated object.
    resp = raw.request("POST", widgets("hooked"), {**widget, "metadata": {"name": "w"}})
    assert resp.status == 201, resp.body
    assert resp.json()["spec"]["size"] == 3
    assert resp.json()["metadata"]["labels"] == {"mutated": "yes"}
    [validate] = env.hooks.reviews("validate")
    assert validate.object["spec"]["size"] == 3 and validate.labels == {"mutated": "yes"}
    assert validate.request["kind"] == {"group": GROUP, "version": "v1", "kind": "Widget"}

    # And what a mutating webhook produces is validated: an invalid result is refused (422)
    # before any validating webhook is asked.
    env.hooks.clear()
    broken = raw.request("POST", cms("hooked"), _cm("broken", **{BREAK_ANNOTATION: "true"}))
    assert broken.status == 422, broken.body
    body = broken.json()
    assert body["reason"] == "Invalid"
    assert 'metadata.labels: Invalid value: "not valid!"' in body["message"]
    assert [r.hook for r in env.hooks.reviews()] == ["mutate"]
    assert raw.request("GET", cms("hooked", "broken")).status == 404


def test_defaults_are_applied_to_what_a_mutating_webhook_adds(env: Env) -> None:
    raw = env.raw
    assert raw.request("POST", CRDS, WIDGET_CRD).status == 201
    eventually(lambda: raw.request("GET", widgets("hooked")).status == 200, message="CRD served")
    widget = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w"}}
    resp = raw.request("POST", widgets("hooked"), {**widget, "spec": {}})
    assert resp.status == 201, resp.body
    # The webhook added spec.extra = {}; the schema's default for extra.mode applies to it,
    # and the validating webhook is shown the defaulted object.
    assert resp.json()["spec"] == {"size": 3, "extra": {"mode": "auto"}}
    [validate] = env.hooks.reviews("validate")
    assert validate.object["spec"] == {"size": 3, "extra": {"mode": "auto"}}


def test_defaults_are_applied_between_mutating_webhooks(env: Env) -> None:
    raw, hooks = env.raw, env.hooks
    assert raw.request("POST", CRDS, WIDGET_CRD).status == 201
    eventually(lambda: raw.request("GET", widgets("hooked")).status == 200, message="CRD served")
    # Configurations run by name: "mutate" first, then "z-second".
    _register(
        raw,
        MWC,
        "z-second",
        _webhook(
            "second.hooks.example.com",
            hooks.url("/mutate"),
            hooks.ca_bundle,
            namespaceSelector=SELECTED,
        ),
    )
    widget = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert raw.request("POST", widgets("hooked"), {**widget, "spec": {}}).status == 201
    first, second = hooks.reviews("mutate")
    assert first.object["spec"] == {}
    # kube-apiserver defaults the object after every webhook's patch (mutating dispatcher:
    # GetObjectDefaulter().Default after applying the patch), so the next webhook sees it.
    assert second.object["spec"] == {"size": 3, "extra": {"mode": "auto"}}


def test_delete_is_admitted_with_the_old_object(env: Env) -> None:
    raw, hooks = env.raw, env.hooks
    _register(
        raw,
        VWC,
        "protect",
        _webhook(
            "protect.hooks.example.com",
            hooks.url("/validate"),
            hooks.ca_bundle,
            rules=[_rule("configmaps", operations=("DELETE",))],
        ),
    )
    # "default" is outside the namespace selector of the create/update webhooks.
    assert raw.request("POST", cms("default"), _cm("kept", {"deny": "true"})).status == 201
    assert raw.request("POST", cms("default"), _cm("gone")).status == 201
    assert hooks.reviews() == []
    denied = raw.request("DELETE", cms("default", "kept"))
    _assert_status(
        denied,
        400,
        f'admission webhook "protect.hooks.example.com" denied the request: {DENY_MESSAGE}',
    )
    assert raw.request("GET", cms("default", "kept")).status == 200
    [review] = hooks.reviews("validate")
    req = review.request
    assert (req["operation"], req["name"], req["object"]) == ("DELETE", "kept", None)
    assert req["oldObject"]["metadata"]["labels"] == {"deny": "true"}
    assert req["options"]["kind"] == "DeleteOptions"
    assert raw.request("DELETE", cms("default", "gone")).status == 200
    assert raw.request("GET", cms("default", "gone")).status == 404


def test_failure_policy_with_unreachable_webhooks(env: Env) -> None:
    raw, hooks = env.raw, env.hooks
    dead = _dead_url("/validate")
    _register(
        raw,
        VWC,
        "unreachable",
        _webhook("unreachable.hooks.example.com", dead, hooks.ca_bundle, failurePolicy="Ignore"),
    )
    _register(
        raw,
        MWC,
        "unreachable",
        _webhook(
            "unreachable.hooks.example.com",
            _dead_url("/m"),
            hooks.ca_bundle,
            failurePolicy="Ignore",
        ),
    )
    # Ignore: the failures are skipped; the reachable webhooks still run.
    assert raw.request("POST", cms("default"), _cm("ignored")).status == 201
    resp = raw.request("POST", cms("hooked"), _cm("ignored"))
    assert resp.status == 201 and resp.json()["metadata"]["labels"] == {"mutated": "yes"}

    # Fail: the request is refused with the call error, and nothing is stored.
    flip = [{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Fail"}]
    headers = {"Content-Type": "application/json-patch+json"}
    assert raw.request("PATCH", f"{VWC}/unreachable", flip, headers=headers).status == 200
    failed = raw.request("POST", cms("default"), _cm("failed"))
    body = failed.json()
    assert failed.status == 500 and body["reason"] == "InternalError", body
    prefix = (
        'Internal error occurred: failed calling webhook "unreachable.hooks.example.com": '
        f'failed to call webhook: Post "{dead}?timeout=10s": dial tcp 127.0.0.1:'
    )
    assert body["message"].startswith(prefix) and "connection refused" in body["message"]
    cause = body["message"].removeprefix("Internal error occurred: ")
    assert body["details"] == {"causes": [{"message": cause}]}
    assert raw.request("GET", cms("default", "failed")).status == 404

    # kubectl shows the same error.
    proc = env.cluster.kubectl(
        "create", "configmap", "failed", "-n", "default", "--from-literal=a=b", check=False
    )
    assert proc.returncode != 0
    assert 'failed calling webhook "unreachable.hooks.example.com"' in proc.stderr


def test_failure_policy_with_untrusted_and_slow_webhooks(env: Env) -> None:
    raw, hooks = env.raw, env.hooks
    other_ca = base64.b64encode(pki.CertificateAuthority.generate("other").cert_pem).decode()
    only_untrusted = {"matchLabels": {"case": "untrusted"}}
    only_slow = {"matchLabels": {"case": "slow"}}
    _register(
        raw,
        VWC,
        "policies",
        _webhook(
            "untrusted.hooks.example.com",
            hooks.url("/validate"),
            other_ca,
            objectSelector=only_untrusted,
        ),
        _webhook(
            "slow-ignored.hooks.example.com",
            hooks.url("/hang"),
            hooks.ca_bundle,
            objectSelector=only_slow,
            timeoutSeconds=1,
            failurePolicy="Ignore",
        ),
        _webhook(
            "slow.hooks.example.com",
            hooks.url("/hang"),
            hooks.ca_bundle,
            objectSelector={"matchLabels": {"case": "slow", "policy": "fail"}},
            timeoutSeconds=1,
        ),
    )
    untrusted = raw.request("POST", cms("default"), _cm("u", {"case": "untrusted"}))
    assert untrusted.status == 500
    message = untrusted.json()["message"]
    assert message.startswith(
        'Internal error occurred: failed calling webhook "untrusted.hooks.example.com": '
        f'failed to call webhook: Post "{hooks.url("/validate")}?timeout=10s": '
    )
    assert "x509: certificate signed by unknown authority" in message
    assert hooks.reviews() == []  # the TLS handshake failed before any request

    # A webhook that does not answer within timeoutSeconds is a call failure too.
    assert raw.request("POST", cms("default"), _cm("s1", {"case": "slow"})).status == 201
    slow = raw.request("POST", cms("default"), _cm("s2", {"case": "slow", "policy": "fail"}))
    assert slow.status == 500, slow.body
    assert slow.json()["message"] == (
        'Internal error occurred: failed calling webhook "slow.hooks.example.com": '
        f'failed to call webhook: Post "{hooks.url("/hang")}?timeout=1s": '
        "context deadline exceeded"
    )
    assert [r.timeout for r in hooks.reviews("hang")] == ["1s", "1s", "1s"]
    assert raw.request("GET", cms("default", "s2")).status == 404


def test_namespace_selector_scopes_webhooks(env: Env) -> None:
    raw, hooks = env.raw, env.hooks
    _namespace(raw, "plain")
    resp = raw.request("POST", cms("plain"), _cm("free", {"deny": "true"}))
    assert resp.status == 201, resp.body
    assert resp.json()["metadata"]["labels"] == {"deny": "true"}  # not mutated either
    assert hooks.reviews() == []

    # Selectors read the namespace's current labels: labelling it brings the webhooks in.
    patch = {"metadata": {"labels": {"webhooks": "enabled"}}}
    headers = {"Content-Type": "application/merge-patch+json"}
    assert raw.request("PATCH", "/api/v1/namespaces/plain", patch, headers=headers).status == 200
    _assert_status(raw.request("POST", cms("plain"), _cm("now", {"deny": "true"})), 400, DENIED)
    ok = raw.request("POST", cms("plain"), _cm("fine"))
    assert ok.status == 201 and ok.json()["metadata"]["labels"] == {"mutated": "yes"}
    assert {r.request["namespace"] for r in hooks.reviews()} == {"plain"}

    # An expression selector excluding the namespace skips it again.
    excluded = {
        "matchExpressions": [{"key": "webhooks", "operator": "NotIn", "values": ["enabled"]}]
    }
    config = raw.request("GET", f"{VWC}/deny").json()
    config["webhooks"][0]["namespaceSelector"] = excluded
    assert raw.request("PUT", f"{VWC}/deny", config).status == 200
    resp = raw.request("POST", cms("plain"), _cm("later", {"deny": "true"}))
    assert resp.status == 201 and resp.json()["metadata"]["labels"] == {
        "deny": "true",
        "mutated": "yes",
    }
    # ... while a namespace without the label is now in scope.
    _assert_status(raw.request("POST", cms("default"), _cm("d", {"deny": "true"})), 400, DENIED)


def test_dry_run_calls_webhooks_but_stores_nothing(env: Env) -> None:
    raw, hooks = env.raw, env.hooks
    resp = raw.request("POST", cms("hooked") + "?dryRun=All", _cm("dry"))
    assert resp.status == 201, resp.body
    assert resp.json()["metadata"]["labels"] == {"mutated": "yes"}
    assert raw.request("GET", cms("hooked", "dry")).status == 404
    reviews = hooks.reviews()
    assert [r.hook for r in reviews] == ["mutate", "validate"]
    for review in reviews:
        assert review.request["dryRun"] is True
        assert review.request["options"]["dryRun"] == ["All"]

    _assert_status(
        raw.request("POST", cms("hooked") + "?dryRun=All", _cm("dry", {"deny": "true"})),
        400,
        DENIED,
    )

    # Updates in dry run: the webhooks are asked, the stored object does not change.
    assert raw.request("POST", cms("hooked"), _cm("real")).status == 201
    stored = raw.request("GET", cms("hooked", "real")).json()
    hooks.clear()
    patch = {"metadata": {"labels": {"deny": "true"}}}
    headers = {"Content-Type": "application/merge-patch+json"}
    resp = raw.request("PATCH", cms("hooked", "real") + "?dryRun=All", patch, headers=headers)
    _assert_status(resp, 400, DENIED)
    patch = {"data": {"k": "changed"}}
    resp = raw.request("PATCH", cms("hooked", "real") + "?dryRun=All", patch, headers=headers)
    assert resp.status == 200 and resp.json()["data"] == {"k": "changed"}
    assert raw.request("GET", cms("hooked", "real")).json() == stored
    assert all(r.request["dryRun"] is True for r in hooks.reviews())
    assert len(hooks.reviews("validate")) == 2

    # kubectl --dry-run=server goes through the webhooks as well.
    hooks.clear()
    out = env.cluster.kubectl(
        "create",
        "configmap",
        "kdry",
        "-n",
        "hooked",
        "--from-literal=a=b",
        "--dry-run=server",
        "-o",
        "json",
    )
    assert json.loads(out.stdout)["metadata"]["labels"] == {"mutated": "yes"}
    assert [r.request["dryRun"] for r in hooks.reviews()] == [True, True]
    assert raw.request("GET", cms("hooked", "kdry")).status == 404
