"""Which webhooks a request goes to: rules, namespace and object selectors, exempt
configuration kinds and ``matchConditions``."""

from __future__ import annotations

from typing import Any

import pytest
from webhook_harness import (
    ALL,
    DEPLOYMENTS,
    NAMESPACES,
    NODES,
    PODS,
    VWC,
    Cluster,
    Server,
    attrs,
    pod,
)

from pilothouse.apiserver.admission import Attributes, Dispatcher, rule_matches
from pilothouse.apiserver.errors import ApiError


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
