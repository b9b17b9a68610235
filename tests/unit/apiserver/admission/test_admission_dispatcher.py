"""Dispatching to mutating and validating webhooks: denials, parallel validation, JSON
patches applied in order, reinvocation, and closing the dispatcher."""

from __future__ import annotations

from typing import Any

import pytest
from webhook_harness import Cluster, Server, attrs, json_patch, pod, respond

from pilothouse.apiserver.admission import Dispatcher
from pilothouse.apiserver.errors import ApiError


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
