"""The AdmissionReview exchanged with webhooks: what the request carries, and the
verification of answers (uid, version, kind, patch fields, HTTP errors), worded like
kube-apiserver."""

from __future__ import annotations

import pytest
from aiohttp import web
from webhook_harness import Behaviour, Cluster, Server, attrs, json_patch, pod, respond

from pilothouse.apiserver.admission import Dispatcher
from pilothouse.apiserver.errors import ApiError


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
