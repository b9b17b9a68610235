"""Tests for pilothouse.apiserver.admission against a real local HTTPS webhook server.

The server (aiohttp on 127.0.0.1, certificate from pilothouse.pki) answers per URL path with
a behaviour chosen by the test and records every AdmissionReview it receives.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from pilothouse.apiserver.admission import Attributes, Dispatcher, rule_matches
from pilothouse.apiserver.errors import ApiError
from pilothouse.apiserver.resources import ResourceType
from pilothouse.pki import CertificateAuthority, issue_server_cert, ssl_server_context

PODS = ResourceType("", "v1", "Pod", "pods", "pod", True, subresources=("status",))
NAMESPACES = ResourceType("", "v1", "Namespace", "namespaces", "namespace", False)
NODES = ResourceType("", "v1", "Node", "nodes", "node", False)
DEPLOYMENTS = ResourceType("apps", "v1", "Deployment", "deployments", "deployment", True)
VWC = ResourceType(
    "admissionregistration.k8s.io",
    "v1",
    "ValidatingWebhookConfiguration",
    "validatingwebhookconfigurations",
    "validatingwebhookconfiguration",
    False,
)
ALL = {"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"]}

CA = CertificateAuthority.generate("webhook-ca")
OTHER_CA = CertificateAuthority.generate("other-ca")
SERVING = issue_server_cert(CA, ["127.0.0.1", "localhost", "hooks.webhooks.svc"])

Behaviour = Callable[[dict[str, Any]], dict[str, Any] | web.Response]


def respond(request: dict[str, Any], **response: Any) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": request["uid"], **response},
    }


def json_patch(ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"patchType": "JSONPatch", "patch": base64.b64encode(orjson.dumps(ops)).decode()}


@dataclass
class Server:
    url: str
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def called(self, path: str) -> int:
        return sum(1 for p, _, _ in self.calls if p == path)

    def requests(self, path: str) -> list[dict[str, Any]]:
        return [r["request"] for p, r, _ in self.calls if p == path]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        review = orjson.loads(await request.read())
        srv.calls.append((path, review, request.query_string))
        if path == "hang":
            await srv.release.wait()
        behaviour = srv.behaviours.get(path)
        if behaviour is None:
            result: dict[str, Any] | web.Response = respond(review["request"], allowed=True)
        else:
            result = behaviour(review["request"])
        if isinstance(result, web.Response):
            return result
        return web.json_response(result)

    app = web.Application()
    app.router.add_post("/{path}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_server_context(*SERVING))
    await site.start()
    port = runner.addresses[0][1]
    srv.url = f"https://127.0.0.1:{port}"
    yield srv
    srv.release.set()
    await runner.cleanup()


@dataclass
class Cluster:
    """Webhook configurations plus a dispatcher reading them."""

    server: Server
    configs: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"mutating": [], "validating": []}
    )

    def hook(self, name: str, path: str, **extra: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": name,
            "clientConfig": {
                "url": f"{self.server.url}/{path}",
                "caBundle": base64.b64encode(CA.cert_pem).decode(),
            },
            "rules": [ALL],
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
        }
        spec.update(extra)
        return spec

    def add(self, which: str, config: str, *hooks: dict[str, Any]) -> None:
        self.configs[which].append({"metadata": {"name": config}, "webhooks": list(hooks)})


@pytest.fixture
async def webhooks(server: Server) -> Cluster:
    return Cluster(server)


@pytest.fixture
async def dispatcher(webhooks: Cluster) -> AsyncIterator[Dispatcher]:
    d = Dispatcher(lambda which: webhooks.configs[which])
    yield d
    await d.close()


def pod(name: str = "web", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {}}


def attrs(
    obj: dict[str, Any] | None = None,
    *,
    operation: str = "CREATE",
    resource: ResourceType = PODS,
    old: dict[str, Any] | None = None,
    namespace: str = "default",
    subresource: str = "",
    ns_labels: dict[str, str] | None = None,
    dry_run: bool = False,
) -> Attributes:
    if obj is None and operation != "DELETE":
        obj = pod()
    source = obj if obj is not None else old
    name = source["metadata"]["name"] if source else ""
    return Attributes(
        operation=operation,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
        obj=obj,
        old_obj=old,
        dry_run=dry_run,
        options={"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        user_info={"username": "alice", "groups": ["devs", "system:authenticated"]},
        namespace_labels={} if ns_labels is None and namespace else ns_labels,
    )


# -- calling and answering -----------------------------------------------------------------


async def test_allow_sends_admission_review(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    server.behaviours["ok"] = lambda r: respond(r, allowed=True, warnings=["be careful"])
    webhooks.add("validating", "cfg", webhooks.hook("ok.example.com", "ok"))
    assert await dispatcher.validate(attrs(pod(labels={"a": "b"}))) == ["be careful"]
    [(_path, review, query)] = server.calls
    assert query == "timeout=10s"
    assert review["apiVersion"] == "admission.k8s.io/v1"
    assert review["kind"] == "AdmissionReview"
    req = review["request"]
    assert req["uid"]
    assert req["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert req["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert req["requestKind"] == req["kind"]
    assert req["requestResource"] == req["resource"]
    assert "subResource" not in req
    assert (req["name"], req["namespace"], req["operation"]) == ("web", "default", "CREATE")
    assert req["userInfo"] == {"username": "alice", "groups": ["devs", "system:authenticated"]}
    assert req["object"]["metadata"]["labels"] == {"a": "b"}
    assert req["oldObject"] is None
    assert req["dryRun"] is False
    assert req["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}


async def test_each_call_gets_a_fresh_uid(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    webhooks.add("validating", "cfg", webhooks.hook("a.example.com", "a"))
    await dispatcher.validate(attrs())
    await dispatcher.validate(attrs())
    uids = {r["uid"] for r in server.requests("a")}
    assert len(uids) == 2


async def test_subresource_request(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    webhooks.add("validating", "cfg", webhooks.hook("a.example.com", "a"))
    await dispatcher.validate(attrs(operation="UPDATE", old=pod(), subresource="status"))
    [req] = server.requests("a")
    assert req["subResource"] == "status"
    assert req["requestSubResource"] == "status"
    assert req["kind"]["kind"] == "Pod"


@pytest.mark.parametrize(
    ("status", "code", "reason", "message"),
    [
        (
            {"code": 403, "reason": "Forbidden", "message": "no privileged pods"},
            403,
            "Forbidden",
            'admission webhook "deny.example.com" denied the request: no privileged pods',
        ),
        (
            None,
            400,
            "",
            'admission webhook "deny.example.com" denied the request without explanation',
        ),
        (
            {"code": 200, "reason": "NotAllowed"},
            400,
            "NotAllowed",
            'admission webhook "deny.example.com" denied the request: NotAllowed',
        ),
        (
            {"code": 422, "message": "bad"},
            422,
            "",
            'admission webhook "deny.example.com" denied the request: bad',
        ),
    ],
)
@pytest.mark.parametrize("which", ["mutating", "validating"])
async def test_deny(
    server: Server,
    webhooks: Cluster,
    dispatcher: Dispatcher,
    which: str,
    status: dict[str, Any] | None,
    code: int,
    reason: str,
    message: str,
) -> None:
    extra = {"status": status} if status else {}
    server.behaviours["deny"] = lambda r: respond(r, allowed=False, **extra)
    webhooks.add(which, "cfg", webhooks.hook("deny.example.com", "deny"))
    with pytest.raises(ApiError) as info:
        if which == "mutating":
            await dispatcher.mutate(attrs())
        else:
            await dispatcher.validate(attrs())
    assert (info.value.code, info.value.reason, info.value.message) == (code, reason, message)


async def test_validating_runs_in_parallel_and_reports_first_denial(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    server.behaviours["d1"] = lambda r: respond(r, allowed=False, status={"message": "one"})
    server.behaviours["d2"] = lambda r: respond(r, allowed=False, status={"message": "two"})
    server.behaviours["w"] = lambda r: respond(r, allowed=True, warnings=["w"])
    webhooks.add("validating", "b-cfg", webhooks.hook("two.example.com", "d2"))
    webhooks.add(
        "validating", "a-cfg", webhooks.hook("one.example.com", "d1"), webhooks.hook("w", "w")
    )
    with pytest.raises(ApiError, match=r'"one\.example\.com" denied the request: one'):
        await dispatcher.validate(attrs())
    assert {p for p, _, _ in server.calls} == {"d1", "d2", "w"}


async def test_json_patch_mutation(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    server.behaviours["label"] = lambda r: respond(
        r,
        allowed=True,
        warnings=["labelled"],
        auditAnnotations={"ignored": "yes"},
        **json_patch([{"op": "add", "path": "/metadata/labels", "value": {"injected": "1"}}]),
    )
    webhooks.add("mutating", "cfg", webhooks.hook("label.example.com", "label"))
    original = pod()
    obj, warnings = await dispatcher.mutate(attrs(original))
    assert obj is not None
    assert obj["metadata"]["labels"] == {"injected": "1"}
    assert "labels" not in original["metadata"]
    assert warnings == ["labelled"]


async def test_mutating_webhooks_run_in_order_and_see_earlier_patches(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    server.behaviours["first"] = lambda r: respond(
        r, allowed=True, **json_patch([{"op": "add", "path": "/spec/a", "value": 1}])
    )
    server.behaviours["second"] = lambda r: respond(
        r, allowed=True, **json_patch([{"op": "add", "path": "/spec/b", "value": 2}])
    )
    # Configurations run sorted by name, regardless of the order they are listed in.
    webhooks.add("mutating", "z", webhooks.hook("second.example.com", "second"))
    webhooks.add("mutating", "a", webhooks.hook("first.example.com", "first"))
    obj, _ = await dispatcher.mutate(attrs())
    assert obj is not None and obj["spec"] == {"a": 1, "b": 2}
    assert [p for p, _, _ in server.calls] == ["first", "second"]
    assert server.requests("second")[0]["object"]["spec"] == {"a": 1}


async def test_patch_that_does_not_apply(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    server.behaviours["bad"] = lambda r: respond(
        r, allowed=True, **json_patch([{"op": "remove", "path": "/spec/missing"}])
    )
    webhooks.add("mutating", "cfg", webhooks.hook("bad.example.com", "bad", failurePolicy="Ignore"))
    with pytest.raises(ApiError) as info:
        await dispatcher.mutate(attrs())
    # Not subject to failurePolicy, and worded with the patch library's own error.
    assert info.value.code == 500
    assert info.value.message == (
        "Internal error occurred: Unable to remove nonexistent key: missing: missing value"
    )


async def test_patch_on_delete_is_refused(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    server.behaviours["p"] = lambda r: respond(
        r, allowed=True, **json_patch([{"op": "add", "path": "/x", "value": 1}])
    )
    webhooks.add("mutating", "cfg", webhooks.hook("p.example.com", "p"))
    with pytest.raises(ApiError) as info:
        await dispatcher.mutate(attrs(operation="DELETE", old=pod()))
    assert info.value.code == 500
    assert info.value.message == (
        'Internal error occurred: admission webhook "p.example.com" attempted to modify the '
        "object, which is not supported for this operation"
    )


async def test_no_matching_hooks_returns_object_untouched(dispatcher: Dispatcher) -> None:
    obj = pod()
    assert await dispatcher.mutate(attrs(obj)) == (obj, [])
    assert await dispatcher.validate(attrs(obj)) == []


# -- failures and failurePolicy ------------------------------------------------------------


async def test_timeout_fail_and_ignore(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    webhooks.add("validating", "fail", webhooks.hook("slow.example.com", "hang", timeoutSeconds=1))
    webhooks.add(
        "mutating",
        "ignore",
        webhooks.hook("lazy.example.com", "hang", timeoutSeconds=1, failurePolicy="Ignore"),
    )
    # Both time out concurrently, so the test waits one second rather than two.
    validated, mutated = await asyncio.gather(
        dispatcher.validate(attrs()), dispatcher.mutate(attrs()), return_exceptions=True
    )
    assert isinstance(validated, ApiError)
    assert validated.code == 500
    assert validated.reason == "InternalError"
    assert validated.message == (
        'Internal error occurred: failed calling webhook "slow.example.com": failed to call '
        f'webhook: Post "{server.url}/hang?timeout=1s": context deadline exceeded'
    )
    assert validated.details == {"causes": [{"message": validated.message[25:]}]}
    assert isinstance(mutated, tuple) and mutated[1] == []


@pytest.mark.parametrize("ca_bundle", [OTHER_CA.cert_pem, None])
@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
async def test_untrusted_certificate(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher, ca_bundle: bytes | None, policy: str
) -> None:
    hook = webhooks.hook("tls.example.com", "ok", failurePolicy=policy)
    if ca_bundle is None:
        del hook["clientConfig"]["caBundle"]  # system roots do not know our CA either
    else:
        hook["clientConfig"]["caBundle"] = base64.b64encode(ca_bundle).decode()
    webhooks.add("validating", "cfg", hook)
    if policy == "Ignore":
        assert await dispatcher.validate(attrs()) == []
        return
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs())
    assert info.value.code == 500
    assert info.value.message == (
        'Internal error occurred: failed calling webhook "tls.example.com": failed to call '
        f'webhook: Post "{server.url}/ok?timeout=10s": tls: failed to verify certificate: '
        "x509: certificate signed by unknown authority"
    )
    assert server.calls == []


async def test_connection_refused(webhooks: Cluster, dispatcher: Dispatcher) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = webhooks.hook("down.example.com", "x")
    hook["clientConfig"]["url"] = f"https://127.0.0.1:{port}/x"
    webhooks.add("validating", "cfg", hook)
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs())
    assert info.value.message.endswith(f"dial tcp 127.0.0.1:{port}: connect: connection refused")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            lambda r: {**respond(r, allowed=True), "response": {"uid": "nope", "allowed": True}},
            'received invalid webhook response: expected response.uid="{uid}", got "nope"',
        ),
        (
            lambda r: {**respond(r, allowed=True), "apiVersion": "admission.k8s.io/v1beta1"},
            "received invalid webhook response: expected webhook response of "
            "admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, "
            "Kind=AdmissionReview",
        ),
        (
            lambda r: {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"},
            "received invalid webhook response: webhook response was absent",
        ),
        (
            lambda r: respond(r, allowed=True, **json_patch([])),
            "received invalid webhook response: validating webhook may not return response.patch",
        ),
        (
            lambda r: web.Response(status=500, text="boom"),
            'failed to call webhook: an error on the server ("boom") has prevented the '
            "request from succeeding",
        ),
        (
            lambda r: web.Response(status=404),
            "failed to call webhook: the server could not find the requested resource",
        ),
        (
            lambda r: web.Response(text="not json"),
            "failed to call webhook: couldn't get version/kind; json parse error",
        ),
    ],
)
async def test_invalid_responses(
    server: Server,
    webhooks: Cluster,
    dispatcher: Dispatcher,
    answer: Behaviour,
    expected: str,
) -> None:
    server.behaviours["odd"] = answer
    webhooks.add("validating", "cfg", webhooks.hook("odd.example.com", "odd"))
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs())
    [req] = server.requests("odd")
    prefix = 'Internal error occurred: failed calling webhook "odd.example.com": '
    assert info.value.code == 500
    assert info.value.message.startswith(prefix + expected.format(uid=req["uid"]))


async def test_mutating_patch_without_patch_type(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    server.behaviours["m"] = lambda r: respond(r, allowed=True, patch="W10=")
    webhooks.add("mutating", "cfg", webhooks.hook("m.example.com", "m"))
    with pytest.raises(ApiError, match=r"response\.patch but not response\.patchType"):
        await dispatcher.mutate(attrs())


async def test_review_version_must_include_v1(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    webhooks.add(
        "validating",
        "cfg",
        webhooks.hook("old.example.com", "ok", admissionReviewVersions=["v1beta1"]),
    )
    with pytest.raises(ApiError, match=r"does not accept known AdmissionReview versions"):
        await dispatcher.validate(attrs())
    assert server.calls == []


# -- dry run -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side_effects", "outcome"),
    [("None", "called"), ("NoneOnDryRun", "called"), ("Some", 400), ("Unknown", 400), (None, 500)],
)
async def test_dry_run_side_effects(
    server: Server,
    webhooks: Cluster,
    dispatcher: Dispatcher,
    side_effects: str | None,
    outcome: str | int,
) -> None:
    hook = webhooks.hook("se.example.com", "se", sideEffects=side_effects)
    if side_effects is None:
        del hook["sideEffects"]
    webhooks.add("validating", "cfg", hook)
    if outcome == "called":
        await dispatcher.validate(attrs(dry_run=True))
        assert server.requests("se")[0]["dryRun"] is True
        return
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs(dry_run=True))
    assert info.value.code == outcome
    if outcome == 400:
        assert info.value.reason == "BadRequest"
        assert info.value.message == 'admission webhook "se.example.com" does not support dry run'
    assert server.calls == []
    # Without dry run the side effects do not matter.
    await dispatcher.validate(attrs())
    assert server.called("se") == 1


# -- selection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "request_", "expected"),
    [
        (ALL, {}, True),
        ({**ALL, "resources": ["*"]}, {}, True),
        ({**ALL, "resources": ["*"]}, {"subresource": "status"}, False),
        ({**ALL, "resources": ["pods"]}, {"subresource": "status"}, False),
        ({**ALL, "resources": ["pods/status"]}, {"subresource": "status"}, True),
        ({**ALL, "resources": ["pods/*"]}, {"subresource": "status"}, True),
        ({**ALL, "resources": ["*/status"]}, {"subresource": "status"}, True),
        ({**ALL, "resources": ["*/scale"]}, {"subresource": "status"}, False),
        ({**ALL, "resources": ["deployments"]}, {}, False),
        ({**ALL, "resources": ["deployments"]}, {"resource": DEPLOYMENTS}, True),
        ({**ALL, "apiGroups": [""]}, {}, True),
        ({**ALL, "apiGroups": ["apps"]}, {}, False),
        ({**ALL, "apiGroups": ["apps"]}, {"resource": DEPLOYMENTS}, True),
        ({**ALL, "apiVersions": ["v1beta1"]}, {}, False),
        ({**ALL, "apiVersions": ["v1"]}, {}, True),
        ({**ALL, "operations": ["UPDATE"]}, {}, False),
        ({**ALL, "operations": ["CREATE", "UPDATE"]}, {}, True),
        ({**ALL, "operations": ["DELETE"]}, {"operation": "DELETE"}, True),
        ({**ALL, "operations": ["CONNECT"]}, {"operation": "CONNECT"}, True),
        ({**ALL, "scope": "*"}, {}, True),
        ({**ALL, "scope": "Namespaced"}, {}, True),
        ({**ALL, "scope": "Cluster"}, {}, False),
        ({**ALL, "scope": "Cluster"}, {"resource": NODES, "namespace": ""}, True),
        ({**ALL, "scope": "Namespaced"}, {"resource": NODES, "namespace": ""}, False),
        # Namespace objects are cluster-scoped even though attributes name a namespace.
        ({**ALL, "scope": "Cluster"}, {"resource": NAMESPACES, "namespace": "ns"}, True),
        ({**ALL, "scope": "Namespaced"}, {"resource": NAMESPACES, "namespace": "ns"}, False),
        ({**ALL, "scope": "Bogus"}, {}, False),
        ({**ALL, "operations": []}, {}, False),
        ({**ALL, "resources": []}, {}, False),
    ],
)
def test_rule_matching(rule: dict[str, Any], request_: dict[str, Any], expected: bool) -> None:
    a = Attributes(
        operation=request_.get("operation", "CREATE"),
        resource=request_.get("resource", PODS),
        subresource=request_.get("subresource", ""),
        namespace=request_.get("namespace", "default"),
        name="x",
        obj={},
        old_obj=None,
    )
    assert rule_matches(rule, a) is expected


SELECTOR = {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}


@pytest.mark.parametrize(
    ("hook_extra", "request_", "called"),
    [
        # namespaceSelector
        ({"namespaceSelector": SELECTOR}, {"ns_labels": {"env": "prod"}}, True),
        ({"namespaceSelector": SELECTOR}, {"ns_labels": {"env": "dev"}}, False),
        ({"namespaceSelector": {"matchLabels": {"env": "prod"}}}, {"ns_labels": {}}, False),
        ({"namespaceSelector": {}}, {"ns_labels": {}}, True),
        # cluster-scoped objects are never exempted by a namespace selector
        (
            {"namespaceSelector": SELECTOR},
            {"resource": NODES, "namespace": "", "obj": {"metadata": {"name": "n"}}},
            True,
        ),
        # a Namespace is matched on its own labels
        (
            {"namespaceSelector": SELECTOR},
            {
                "resource": NAMESPACES,
                "namespace": "",
                "obj": {"metadata": {"name": "p", "labels": {"env": "prod"}}},
            },
            True,
        ),
        (
            {"namespaceSelector": SELECTOR},
            {"resource": NAMESPACES, "namespace": "", "obj": {"metadata": {"name": "d"}}},
            False,
        ),
        # ... its stored labels when it is being deleted
        (
            {"namespaceSelector": SELECTOR},
            {
                "resource": NAMESPACES,
                "namespace": "",
                "operation": "DELETE",
                "old": {"metadata": {"name": "p", "labels": {"env": "prod"}}},
            },
            True,
        ),
        # objectSelector: new object, or old object (DELETE)
        ({"objectSelector": SELECTOR}, {"obj": pod(labels={"env": "prod"})}, True),
        ({"objectSelector": SELECTOR}, {"obj": pod(labels={"env": "dev"})}, False),
        ({"objectSelector": SELECTOR}, {"obj": pod()}, False),
        (
            {"objectSelector": SELECTOR},
            {"operation": "DELETE", "obj": None, "old": pod(labels={"env": "prod"})},
            True,
        ),
        (
            {"objectSelector": SELECTOR},
            {
                "operation": "UPDATE",
                "obj": pod(labels={"env": "dev"}),
                "old": pod(labels={"env": "prod"}),
            },
            True,
        ),
        (
            {"objectSelector": {"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}},
            {"obj": pod()},
            True,
        ),
        # rules still apply
        ({"rules": [{**ALL, "operations": ["DELETE"]}]}, {}, False),
        ({"rules": []}, {}, False),
    ],
)
async def test_selectors(
    server: Server,
    webhooks: Cluster,
    dispatcher: Dispatcher,
    hook_extra: dict[str, Any],
    request_: dict[str, Any],
    called: bool,
) -> None:
    webhooks.add("validating", "cfg", webhooks.hook("sel.example.com", "sel", **hook_extra))
    operation = request_.get("operation", "CREATE")
    obj = request_.get("obj", pod()) if operation != "DELETE" else None
    a = attrs(
        obj,
        operation=operation,
        old=request_.get("old"),
        resource=request_.get("resource", PODS),
        namespace=request_.get("namespace", "default"),
        ns_labels=request_.get("ns_labels"),
    )
    await dispatcher.validate(a)
    assert server.called("sel") == (1 if called else 0)


async def test_missing_namespace_is_not_found(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    webhooks.add(
        "validating", "cfg", webhooks.hook("ns.example.com", "ns", namespaceSelector=SELECTOR)
    )
    a = attrs()
    a.namespace_labels = None
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(a)
    assert (info.value.code, info.value.message) == (404, 'namespaces "default" not found')
    # ... but only for webhooks whose rules apply to the request.
    webhooks.configs["validating"][0]["webhooks"][0]["rules"] = [{**ALL, "operations": ["DELETE"]}]
    assert await dispatcher.validate(a) == []


async def test_invalid_selector_is_internal_error(
    webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    bad = {"matchExpressions": [{"key": "env", "operator": "Near", "values": ["x"]}]}
    webhooks.add("validating", "cfg", webhooks.hook("bad.example.com", "x", objectSelector=bad))
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs())
    assert info.value.code == 500
    assert "is not a valid label selector operator" in info.value.message


@pytest.mark.parametrize("which", ["mutating", "validating"])
async def test_webhook_configurations_are_exempt(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher, which: str
) -> None:
    webhooks.add(which, "cfg", webhooks.hook("all.example.com", "all"))
    obj = {"metadata": {"name": "cfg"}, "webhooks": []}
    a = attrs(obj, resource=VWC, namespace="")
    if which == "mutating":
        assert await dispatcher.mutate(a) == (obj, [])
    else:
        assert await dispatcher.validate(a) == []
    assert server.calls == []


@pytest.mark.parametrize(
    ("conditions", "policy", "outcome"),
    [
        ([{"name": "skip", "expression": "object.metadata.name != 'web'"}], "Fail", "skipped"),
        ([{"name": "hit", "expression": "object.metadata.name == 'web'"}], "Fail", "called"),
        (
            [{"name": "op", "expression": "request.operation == 'CREATE' && oldObject == null"}],
            "Fail",
            "called",
        ),
        ([{"name": "user", "expression": "'devs' in request.userInfo.groups"}], "Fail", "called"),
        ([{"name": "err", "expression": "object.nope == 1"}], "Fail", 403),
        ([{"name": "err", "expression": "object.nope == 1"}], "Ignore", "skipped"),
        # a false condition wins over an error
        (
            [
                {"name": "err", "expression": "object.nope == 1"},
                {"name": "no", "expression": "false"},
            ],
            "Fail",
            "skipped",
        ),
        ([{"name": "type", "expression": "'x'"}], "Fail", 403),
    ],
)
async def test_match_conditions(
    server: Server,
    webhooks: Cluster,
    dispatcher: Dispatcher,
    conditions: list[dict[str, str]],
    policy: str,
    outcome: str | int,
) -> None:
    hook = webhooks.hook("cel.example.com", "cel", matchConditions=conditions, failurePolicy=policy)
    webhooks.add("validating", "cfg", hook)
    if isinstance(outcome, int):
        with pytest.raises(ApiError) as info:
            await dispatcher.validate(attrs())
        assert info.value.code == outcome
        assert info.value.reason == "Forbidden"
        assert info.value.message.startswith('pods "web" is forbidden: expression ')
        assert server.calls == []
        return
    await dispatcher.validate(attrs())
    assert server.called("cel") == (1 if outcome == "called" else 0)


# -- service references --------------------------------------------------------------------


async def test_service_reference_with_resolver(server: Server, webhooks: Cluster) -> None:
    seen: list[tuple[str, str, int]] = []

    def resolve(namespace: str, name: str, port: int) -> str | None:
        seen.append((namespace, name, port))
        return server.url

    hook = webhooks.hook("svc.example.com", "ignored")
    hook["clientConfig"] = {
        "service": {"namespace": "webhooks", "name": "hooks", "path": "/svc", "port": 8443},
        "caBundle": base64.b64encode(CA.cert_pem).decode(),
    }
    webhooks.add("validating", "cfg", hook)
    d = Dispatcher(lambda which: webhooks.configs[which], service_resolver=resolve)
    try:
        assert await d.validate(attrs()) == []
    finally:
        await d.close()
    assert seen == [("webhooks", "hooks", 8443)]
    assert server.called("svc") == 1


async def test_service_certificate_must_name_the_service(server: Server, webhooks: Cluster) -> None:
    hook = webhooks.hook("svc.example.com", "ignored")
    hook["clientConfig"] = {
        "service": {"namespace": "elsewhere", "name": "hooks", "path": "/svc"},
        "caBundle": base64.b64encode(CA.cert_pem).decode(),
    }
    webhooks.add("validating", "cfg", hook)
    d = Dispatcher(lambda which: webhooks.configs[which], service_resolver=lambda *_: server.url)
    try:
        with pytest.raises(ApiError) as info:
            await d.validate(attrs())
    finally:
        await d.close()
    assert info.value.message.endswith(
        'Post "https://hooks.elsewhere.svc:443/svc?timeout=10s": tls: failed to verify '
        "certificate: x509: certificate is not valid for hooks.elsewhere.svc"
    )
    assert server.calls == []


async def test_invalid_ca_bundle(webhooks: Cluster, dispatcher: Dispatcher) -> None:
    hook = webhooks.hook("ca.example.com", "ok")
    hook["clientConfig"]["caBundle"] = base64.b64encode(b"not a certificate").decode()
    webhooks.add("validating", "cfg", hook)
    with pytest.raises(ApiError) as info:
        await dispatcher.validate(attrs())
    assert info.value.message.startswith(
        'Internal error occurred: failed calling webhook "ca.example.com": could not get REST '
        "client: unable to load root certificates"
    )
    hook["failurePolicy"] = "Ignore"
    assert await dispatcher.validate(attrs()) == []


@pytest.mark.parametrize("resolver", ["default", "none"])
async def test_unresolvable_service(webhooks: Cluster, resolver: str) -> None:
    hook = webhooks.hook("svc.example.com", "x")
    hook["clientConfig"] = {"service": {"namespace": "webhooks", "name": "hooks", "path": "/v"}}
    webhooks.add("validating", "cfg", hook)
    d = Dispatcher(
        lambda which: webhooks.configs[which],
        service_resolver=None if resolver == "default" else (lambda ns, n, p: None),
    )
    try:
        with pytest.raises(ApiError) as info:
            await d.validate(attrs())
    finally:
        await d.close()
    prefix = (
        'Internal error occurred: failed calling webhook "svc.example.com": failed to call '
        'webhook: Post "https://hooks.webhooks.svc:443/v?timeout=10s": '
    )
    assert info.value.message.startswith(prefix)
    if resolver == "none":
        assert info.value.message == prefix + 'no endpoints available for service "hooks"'
    else:
        assert "use clientConfig.url or configure a service resolver" in info.value.message


# -- reinvocation --------------------------------------------------------------------------


def _counting_patch(request: dict[str, Any]) -> dict[str, Any]:
    """Record in an annotation how many times this webhook saw the object."""
    annotations = request["object"]["metadata"].get("annotations") or {}
    count = int(annotations.get("seen", "0")) + 1
    op = "replace" if annotations else "add"
    path = "/metadata/annotations/seen" if annotations else "/metadata/annotations"
    value: Any = str(count) if annotations else {"seen": str(count)}
    return respond(request, allowed=True, **json_patch([{"op": op, "path": path, "value": value}]))


@pytest.mark.parametrize(("policy", "calls"), [("IfNeeded", 2), ("Never", 1), (None, 1)])
async def test_reinvocation(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher, policy: str | None, calls: int
) -> None:
    server.behaviours["first"] = lambda r: respond(r, allowed=True)
    server.behaviours["second"] = lambda r: respond(
        r, allowed=True, **json_patch([{"op": "add", "path": "/spec/late", "value": True}])
    )
    first = webhooks.hook("first.example.com", "first")
    if policy:
        first["reinvocationPolicy"] = policy
    webhooks.add("mutating", "cfg", first, webhooks.hook("second.example.com", "second"))
    obj, _ = await dispatcher.mutate(attrs())
    assert obj is not None and obj["spec"] == {"late": True}
    assert server.called("first") == calls
    assert server.called("second") == 1
    if calls == 2:
        assert server.requests("first")[1]["object"]["spec"] == {"late": True}


async def test_no_reinvocation_without_change(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    server.behaviours["noop"] = lambda r: respond(r, allowed=True, **json_patch([]))
    webhooks.add(
        "mutating",
        "cfg",
        webhooks.hook("a.example.com", "a", reinvocationPolicy="IfNeeded"),
        webhooks.hook("noop.example.com", "noop"),
    )
    await dispatcher.mutate(attrs())
    assert server.called("a") == 1


async def test_reinvocation_happens_once(
    server: Server, webhooks: Cluster, dispatcher: Dispatcher
) -> None:
    # Both webhooks change the object every time they run; each IfNeeded webhook runs at
    # most twice, and the second round does not trigger a third.
    server.behaviours["a"] = _counting_patch
    server.behaviours["b"] = lambda r: respond(
        r,
        allowed=True,
        **json_patch([{"op": "add", "path": "/spec/b", "value": len(server.calls)}]),
    )
    webhooks.add(
        "mutating",
        "cfg",
        webhooks.hook("a.example.com", "a", reinvocationPolicy="IfNeeded"),
        webhooks.hook("b.example.com", "b", reinvocationPolicy="IfNeeded"),
    )
    obj, _ = await dispatcher.mutate(attrs())
    assert obj is not None
    assert [p for p, _, _ in server.calls] == ["a", "b", "a", "b"]
    assert obj["metadata"]["annotations"] == {"seen": "2"}


async def test_close_is_idempotent(dispatcher: Dispatcher) -> None:
    await dispatcher.close()
    await dispatcher.close()
