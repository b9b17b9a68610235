"""The NodeOperation model: parsing and defaults, the Python checks of specs, and the CRD it
generates (scope, printer columns, status subresource, admission rules)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from pilothouse import crd
from pilothouse.operators.sessions import nodeoperation, nodeops


def spec(**fields: Any) -> nodeoperation.NodeOperationSpec:
    return nodeoperation.NodeOperationSpec.model_validate({"node": "n1", **fields})


def test_parse_and_defaults() -> None:
    op = nodeoperation.NodeOperation.from_object(
        {
            "apiVersion": "sessions.pilothouse.dev/v1alpha1",
            "kind": "NodeOperation",
            "metadata": {"name": "drain-n1"},
            "spec": {"node": "n1", "operation": "drain", "drain": {"gracePeriodSeconds": 5}},
        }
    )
    assert op.spec.drain is not None
    assert op.spec.drain.grace_period_seconds == 5
    assert op.spec.drain.timeout == "5m"
    assert op.spec.drain.ignore_daemon_sets is True
    assert (op.spec.drain.force, op.spec.drain.delete_empty_dir_data) == (False, False)
    assert nodeoperation.timeout_seconds(op.spec) == 300.0
    assert nodeoperation.status_of(op) == {}
    # Without drain options the defaults apply.
    assert nodeoperation.timeout_seconds(spec(operation="drain")) == 300.0
    assert nodeoperation.timeout_seconds(spec(operation="drain", drain={"timeout": "1m30s"})) == 90


@pytest.mark.parametrize(
    "fields",
    [
        {"operation": "reboot"},
        {"operation": "taint", "taints": [{"key": "k", "effect": "NoWhere"}]},
        {"operation": "drain", "drain": {"timeout": "5 minutes"}},
        {"operation": "drain", "drain": {"gracePeriodSeconds": -1}},
        {"operation": "label", "node": ""},
    ],
)
def test_malformed_fields_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        spec(**fields)


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"operation": "cordon"}, []),
        ({"operation": "uncordon"}, []),
        ({"operation": "drain"}, []),
        ({"operation": "label", "labels": {"a": "b"}}, []),
        ({"operation": "label"}, ["operation label needs labels"]),
        ({"operation": "unlabel", "labelKeys": ["a"]}, []),
        ({"operation": "unlabel", "labels": {"a": ""}}, []),
        ({"operation": "unlabel"}, ["operation unlabel needs labelKeys (or labels)"]),
        ({"operation": "taint", "taints": [{"key": "k", "effect": "NoSchedule"}]}, []),
        ({"operation": "taint"}, ["operation taint needs taints, each with an effect"]),
        (
            {"operation": "taint", "taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "j"}]},
            ["taint 'j' needs an effect"],
        ),
        ({"operation": "untaint", "taints": [{"key": "k"}]}, []),
        ({"operation": "untaint"}, ["operation untaint needs taints (keys, optionally effects)"]),
    ],
)
def test_spec_problems(fields: dict[str, Any], problems: list[str]) -> None:
    assert nodeoperation.spec_problems(spec(**fields)) == problems


def test_spec_problems_catch_a_timeout_the_pattern_let_through() -> None:
    # model_construct skips validation, as an object stored before the pattern existed would.
    options = nodeoperation.DrainOptions.model_construct(timeout="-5m")
    problems = nodeoperation.spec_problems(
        spec(operation="drain").model_copy(update={"drain": options})
    )
    assert len(problems) == 1 and problems[0].startswith("drain.timeout: invalid duration '-5m'")


def test_crd() -> None:
    definition = crd.definition(nodeoperation.NodeOperation)
    assert definition["spec"]["scope"] == "Cluster"
    assert definition["spec"]["group"] == "sessions.pilothouse.dev"
    assert definition["spec"]["names"]["shortNames"] == ["nodeop"]
    (version,) = definition["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Node", ".spec.node"),
        ("Operation", ".spec.operation"),
        ("Phase", ".status.phase"),
        ("Progress", ".status.progress"),
        ("Message", ".status.message"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules = {r["rule"] for r in spec_schema["x-kubernetes-validations"]}
    assert "self == oldSelf" in rules
    assert spec_schema["properties"]["operation"]["enum"] == list(nodeoperation.OPERATIONS)
    (served,) = nodeops.CRDS
    assert served is nodeoperation.NodeOperation
