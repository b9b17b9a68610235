"""Tests for pilothouse.apiserver.apply.entries: decoding, keying, encoding order and capping
of managedFields entries."""

from __future__ import annotations

import pytest

from pilothouse.apiserver.apply.entries import (
    ManagedEntry,
    ManagerKey,
    cap_update_managers,
    decode_managed_fields,
    encode_managed_fields,
)
from pilothouse.apiserver.apply.fieldpath import FieldSet, PathElement

F = PathElement.field
T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"


def test_decode_validates_entries() -> None:
    with pytest.raises(ValueError, match="operation"):
        decode_managed_fields([{"operation": "Patch", "apiVersion": "v1"}])
    with pytest.raises(ValueError, match="apiVersion"):
        decode_managed_fields([{"operation": "Update"}])
    with pytest.raises(ValueError, match="fieldsType"):
        decode_managed_fields([{"operation": "Update", "apiVersion": "v1"}])
    with pytest.raises(ValueError, match="invalid fieldsType"):
        decode_managed_fields([{"operation": "Update", "apiVersion": "v1", "fieldsType": "X"}])


def test_appliers_are_keyed_without_api_version() -> None:
    entry = {"manager": "m", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {}}
    managed = decode_managed_fields([dict(entry, operation="Apply")])
    assert list(managed) == [ManagerKey("m", "Apply")]
    managed = decode_managed_fields([dict(entry, operation="Update")])
    assert list(managed) == [ManagerKey("m", "Update", "v1")]


def test_encode_order() -> None:
    fs = FieldSet.from_paths([(F("a"),)])
    managed = {
        ManagerKey("z", "Update", "v1"): ManagedEntry(fs, "v1", T1),
        ManagerKey("b", "Update", "v1"): ManagedEntry(fs, "v1", T2),
        ManagerKey("a", "Update", "v1"): ManagedEntry(fs, "v1", T2),
        ManagerKey("y", "Apply"): ManagedEntry(fs, "v1", T3),
    }
    assert [e["manager"] for e in encode_managed_fields(managed)] == ["y", "z", "a", "b"]


def test_cap_folds_oldest_updates_into_ancient_changes() -> None:
    def fs(n: int) -> FieldSet:
        return FieldSet.from_paths([(F(f"f{n}"),)])

    managed = {
        ManagerKey(f"m{i:02}", "Update", "v1"): ManagedEntry(
            fs(i), "v1", f"2024-01-{i + 1:02}T00:00:00Z"
        )
        for i in range(12)
    }
    managed[ManagerKey("applier", "Apply")] = ManagedEntry(fs(99), "v1", T1)
    cap_update_managers(managed)
    updates = [k for k in managed if k.operation == "Update"]
    assert len(updates) == 10
    bucket = managed[ManagerKey("ancient-changes", "Update", "v1")]
    assert set(bucket.fields.paths()) == {(F("f0"),), (F("f1"),), (F("f2"),)}
    assert bucket.time == "2024-01-03T00:00:00Z"
    assert ManagerKey("applier", "Apply") in managed
