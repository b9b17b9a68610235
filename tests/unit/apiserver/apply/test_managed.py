"""Tests for pilothouse.apiserver.apply.managed: managedFields tracking of non-apply writes
(create/update/patch), reset fields and the default manager name."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pilothouse.apiserver import schemas
from pilothouse.apiserver.apply.fieldpath import PathElement
from pilothouse.apiserver.apply.managed import (
    default_manager,
    record_update,
    reset_fields_for,
)

F, K = PathElement.field, PathElement.key
T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"


def _cm(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default", "uid": "u1", "resourceVersion": "1"},
        "data": dict(data),
    }


def _with(obj: dict[str, Any], managed: list[dict[str, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["managedFields"] = managed
    return out


def _owned(managed: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["manager"]: e["fieldsV1"] for e in managed}


# -- default manager ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("kubectl/v1.32.0 (linux/amd64) kubernetes/abc", "kubectl"),
        ("python-requests/2.31", "python-requests"),
        ("OpenAPI-Generator/30.1.0/python", "OpenAPI-Generator"),
        ("no-slash", "no-slash"),
        ("tab\there/1", "tabhere"),
        ("", "unknown"),
        (None, "unknown"),
        ("x" * 200, "x" * 128),
    ],
)
def test_default_manager(agent: str | None, expected: str) -> None:
    assert default_manager(agent) == expected


# -- create and update -----------------------------------------------------------------------


def test_create_owns_everything_but_server_metadata() -> None:
    obj = _cm(a="1")
    obj["metadata"]["labels"] = {"app": "x"}
    managed = record_update(None, obj, "kubectl-create", "v1", T1)
    assert managed == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {".": {}, "f:a": {}},
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            },
        }
    ]


def test_update_takes_changed_fields_from_other_managers() -> None:
    old = _cm(a="1", b="2")
    old = _with(old, record_update(None, old, "creator", "v1", T1))
    new = copy.deepcopy(old)
    new["data"]["a"] = "changed"
    new["data"]["c"] = "3"
    managed = record_update(old, new, "kubectl-edit", "v1", T2)
    assert _owned(managed) == {
        "creator": {"f:data": {".": {}, "f:b": {}}},
        "kubectl-edit": {"f:data": {"f:a": {}, "f:c": {}}},
    }
    # Older entries first; each keeps its own timestamp.
    assert [e["time"] for e in managed] == [T1, T2]


def test_removed_fields_leave_every_manager_and_empty_entries_vanish() -> None:
    old = _cm(a="1")
    old = _with(old, record_update(None, old, "creator", "v1", T1))
    new = copy.deepcopy(old)
    del new["data"]
    managed = record_update(old, new, "cleaner", "v1", T2)
    assert managed == []


def test_unchanged_write_keeps_entries_and_times() -> None:
    old = _cm(a="1")
    old = _with(old, record_update(None, old, "creator", "v1", T1))
    new = copy.deepcopy(old)
    new["metadata"]["resourceVersion"] = "2"  # never owned
    assert record_update(old, new, "other", "v1", T2) == old["metadata"]["managedFields"]


def test_same_manager_merges_into_its_entry_per_api_version() -> None:
    old = _cm(a="1")
    old = _with(old, record_update(None, old, "ctl", "v1", T1))
    new = copy.deepcopy(old)
    new["data"]["b"] = "2"
    managed = record_update(old, new, "ctl", "v1", T2)
    assert _owned(managed) == {"ctl": {"f:data": {".": {}, "f:a": {}, "f:b": {}}}}
    assert managed[0]["time"] == T2


def test_subresource_writes_are_separate_managers() -> None:
    dep_schema = schemas.builtin_schema("apps/v1", "Deployment")
    old: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "uid": "u"},
        "spec": {"replicas": 1},
    }
    old = _with(old, record_update(None, old, "creator", "apps/v1", T1))
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 1}
    new["spec"]["replicas"] = 5  # wiped by the status strategy: never owned here
    managed = record_update(old, new, "controller", "apps/v1", T2, "status", schema=dep_schema)
    status_entry = next(e for e in managed if e["manager"] == "controller")
    assert status_entry["subresource"] == "status"
    assert status_entry["fieldsV1"] == {"f:status": {".": {}, "f:replicas": {}}}
    creator = next(e for e in managed if e["manager"] == "creator")
    assert creator["fieldsV1"]["f:spec"] == {".": {}, "f:replicas": {}}


def test_main_resource_does_not_own_status_when_reset() -> None:
    old = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    new = dict(old, spec={"paused": True}, status={"replicas": 3})
    managed = record_update(None, new, "c", "apps/v1", T1, reset_fields=reset_fields_for("", True))
    assert managed[0]["fieldsV1"] == {"f:spec": {".": {}, "f:paused": {}}}


def test_managed_fields_sent_by_the_client_win_and_reset() -> None:
    old = _cm(a="1")
    old = _with(old, record_update(None, old, "creator", "v1", T1))
    # Explicit entries replace the live ones ("directly updating managed fields").
    mine = [
        {
            "manager": "me",
            "operation": "Update",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}}},
        }
    ]
    assert _owned(record_update(old, _with(old, mine), "x", "v1", T2)) == {
        "me": {"f:data": {"f:a": {}}}
    }
    # [{}] or [] reset them, and updates of untracked objects stay untracked.
    assert record_update(old, _with(old, [{}]), "x", "v1", T2) == []
    assert record_update(old, _with(old, []), "x", "v1", T2) == []
    untracked = _with(old, [])
    changed = copy.deepcopy(untracked)
    changed["data"]["z"] = "1"
    del changed["metadata"]["managedFields"]
    assert record_update(untracked, changed, "x", "v1", T2) == []
    # Undecodable or absent managedFields fall back to the live ones.
    bogus = _with(old, [{"manager": "m", "operation": "Bogus"}])
    assert record_update(old, bogus, "x", "v1", T2) == old["metadata"]["managedFields"]
