"""``meta.k8s.io/v1`` Table conversion: built-in printers, the apiextensions convertor for
custom resources (cases after apiextensions' tableconvertor_test.go), the default
convertor, and the object embedding that ``includeObject`` selects."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from pilothouse.apiserver import errors, resources, tables

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)

PODS = resources.ResourceType("", "v1", "Pod", "pods", "pod", namespaced=True)
ROLES = resources.ResourceType(
    "rbac.authorization.k8s.io", "v1", "Role", "roles", "role", namespaced=True
)


def crd(columns: list[dict[str, Any]] | None) -> resources.ResourceType:
    version: dict[str, Any] = {"name": "v1", "served": True, "storage": True}
    if columns is not None:
        version["additionalPrinterColumns"] = columns
    return resources.ResourceType(
        "example.com", "v1", "Widget", "widgets", "widget", namespaced=True, crd_version=version
    )


POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "uid": "u-1",
        "resourceVersion": "42",
        "creationTimestamp": "2024-05-01T11:55:00Z",
        "labels": {"app": "web"},
    },
    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    "status": {
        "phase": "Running",
        "containerStatuses": [{"ready": True, "restartCount": 0, "state": {"running": {}}}],
    },
}


def test_pod_table_shape() -> None:
    table = tables.to_table(PODS, [POD], now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert set(table["columnDefinitions"][0]) == {
        "name",
        "type",
        "format",
        "description",
        "priority",
    }
    [row] = table["rows"]
    assert row["cells"] == [
        "web",
        "1/1",
        "Running",
        "0",
        "5m",
        "<none>",
        "<none>",
        "<none>",
        "<none>",
    ]
    assert "conditions" not in row
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": POD["metadata"],
    }


def test_include_object_modes() -> None:
    assert (
        tables.to_table(PODS, [POD], include_object="Object", now=NOW)["rows"][0]["object"] == POD
    )
    assert tables.to_table(PODS, [POD], include_object="None", now=NOW)["rows"][0]["object"] is None
    partial = tables.to_table(PODS, [POD], include_object="", now=NOW)["rows"][0]["object"]
    assert partial["kind"] == "PartialObjectMetadata"
    with pytest.raises(errors.ApiError) as err:
        tables.to_table(PODS, [POD], include_object="Everything", now=NOW)
    assert err.value.code == 400
    assert err.value.message == 'unrecognized includeObject value: "Everything"'


def test_rows_hold_copies() -> None:
    obj = copy.deepcopy(POD)
    table = tables.to_table(PODS, [obj], include_object="Object", now=NOW)
    meta_table = tables.to_table(PODS, [obj], now=NOW)
    obj["metadata"]["labels"]["app"] = "changed"
    assert table["rows"][0]["object"]["metadata"]["labels"] == {"app": "web"}
    assert meta_table["rows"][0]["object"]["metadata"]["labels"] == {"app": "web"}


def test_list_metadata() -> None:
    meta = {"resourceVersion": "100", "continue": "tok", "remainingItemCount": 3}
    table = tables.to_table(PODS, [POD, POD], list_meta=meta, now=NOW)
    assert table["metadata"] == meta
    assert len(table["rows"]) == 2
    empty = tables.to_table(PODS, [], list_meta={"resourceVersion": "7", "continue": ""}, now=NOW)
    assert empty["metadata"] == {"resourceVersion": "7"}
    assert empty["rows"] == []
    assert tables.to_table(PODS, [], now=NOW)["metadata"] == {}


def test_no_headers() -> None:
    table = tables.to_table(PODS, [POD], now=NOW, no_headers=True)
    assert table["columnDefinitions"] is None
    assert table["rows"][0]["cells"][0] == "web"


def test_row_conditions_of_finished_pods() -> None:
    done = copy.deepcopy(POD)
    done["status"] = {"phase": "Failed"}
    [row] = tables.to_table(PODS, [done], now=NOW)["rows"]
    assert row["conditions"] == [
        {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}
    ]
    assert list(row) == ["cells", "conditions", "object"]


# -- the default convertor -----------------------------------------------------------------


def test_default_convertor() -> None:
    role = {"metadata": {"name": "reader", "creationTimestamp": "2024-05-01T13:30:00+02:00"}}
    table = tables.to_table(ROLES, [role, {"metadata": {"name": "x"}}], now=NOW)
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"),
        ("Created At", "date", ""),
    ]
    assert [r["cells"] for r in table["rows"]] == [
        ["reader", "2024-05-01T11:30:00Z"],
        ["x", "0001-01-01T00:00:00Z"],
    ]


def test_crds_themselves_print_created_at() -> None:
    rt = resources.ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        "customresourcedefinition",
        namespaced=False,
    )
    obj = {"metadata": {"name": "widgets.example.com", "creationTimestamp": "2024-01-02T03:04:05Z"}}
    table = tables.to_table(rt, [obj], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Created At"]
    assert table["rows"][0]["cells"] == ["widgets.example.com", "2024-01-02T03:04:05Z"]


# -- custom resources ----------------------------------------------------------------------

WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {
        "name": "w1",
        "creationTimestamp": "2024-05-01T09:00:00Z",
        "labels": {"app.kubernetes.io/name": "w"},
    },
    "spec": {
        "replicas": 3,
        "ratio": 0.75,
        "enabled": True,
        "selector": {"b": 1, "a": "x"},
        "nothing": None,
        "tags": ["a", "b"],
    },
    "status": {
        "conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False"}],
        "lastSync": "2024-05-01T11:59:30Z",
        "badDate": "yesterday",
        "emptyDate": "",
    },
}


def test_crd_without_columns_gets_age() -> None:
    table = tables.to_table(crd(None), [WIDGET], now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert table["columnDefinitions"][1]["description"].startswith("CreationTimestamp is")
    assert table["rows"][0]["cells"] == ["w1", "3h"]
    assert tables.to_table(crd([]), [WIDGET], now=NOW)["rows"][0]["cells"] == ["w1", "3h"]


def test_crd_column_definitions() -> None:
    columns: list[dict[str, Any]] = [
        {
            "name": "Replicas",
            "type": "integer",
            "jsonPath": ".spec.replicas",
            "description": "wanted",
            "priority": 1,
            "format": "int32",
        },
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio"},
    ]
    defs = tables.to_table(crd(columns), [], now=NOW)["columnDefinitions"]
    assert defs[1] == {
        "name": "Replicas",
        "type": "integer",
        "format": "int32",
        "description": "wanted",
        "priority": 1,
    }
    assert defs[2] == {
        "name": "Ratio",
        "type": "number",
        "format": "",
        "description": "Custom resource definition column (in JSONPath format): .spec.ratio",
        "priority": 0,
    }
    assert defs[0]["name"] == "Name" and defs[0]["format"] == "name"


@pytest.mark.parametrize(
    ("col_type", "path", "cell"),
    [
        ("integer", ".spec.replicas", 3),
        ("integer", ".spec.ratio", 0),  # float64 -> int64 truncates
        ("integer", ".spec.enabled", None),
        ("number", ".spec.replicas", 3.0),
        ("number", ".spec.ratio", 0.75),
        ("boolean", ".spec.enabled", True),
        ("boolean", ".spec.replicas", None),
        ("string", ".spec.replicas", "3"),
        ("string", ".spec.ratio", "0.75"),
        ("string", ".spec.enabled", "true"),
        ("string", ".spec.selector", '{"a":"x","b":1}'),
        ("string", ".spec.tags", '["a","b"]'),
        ("string", ".spec.tags[*]", "a"),  # only the first match of a "simple" path
        ("string", ".spec.nothing", "<no value>"),
        ("string", ".spec.missing", None),
        ("string", ".spec.tags[5]", None),  # evaluation errors print nothing
        ("string", '.status.conditions[?(@.type=="Ready")].status', "False"),
        ("string", ".metadata.labels.app\\.kubernetes\\.io/name", "w"),
        ("string", ".metadata.labels['app.kubernetes.io/name']", None),  # upstream quirk
        ("date", ".status.lastSync", "30s"),
        ("date", ".metadata.creationTimestamp", "3h"),
        ("date", ".status.badDate", "<invalid>"),
        ("date", ".status.emptyDate", "<unknown>"),
        ("date", ".spec.replicas", None),
        ("custom", ".spec.replicas", None),
    ],
)
def test_crd_cells(col_type: str, path: str, cell: Any) -> None:
    columns = [{"name": "C", "type": col_type, "jsonPath": path}]
    table = tables.to_table(crd(columns), [WIDGET], now=NOW)
    assert table["rows"][0]["cells"] == ["w1", cell]


def test_crd_invalid_column_keeps_the_ones_before() -> None:
    columns = [
        {"name": "A", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "B", "type": "string", "jsonPath": ".spec[unterminated"},
        {"name": "C", "type": "string", "jsonPath": ".spec.ratio"},
    ]
    table = tables.to_table(crd(columns), [WIDGET], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "A"]
    assert table["rows"][0]["cells"] == ["w1", 3]


def test_crd_table_embeds_objects() -> None:
    columns = [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}]
    table = tables.to_table(
        crd(columns), [WIDGET], include_object="Object", list_meta={"resourceVersion": "9"}, now=NOW
    )
    assert table["metadata"] == {"resourceVersion": "9"}
    assert table["rows"][0]["object"] == WIDGET
