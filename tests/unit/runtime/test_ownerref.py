"""Owner references: controller-runtime's rules for who may own and control what."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.runtime import ownerref


def obj(
    kind: str = "ConfigMap",
    name: str = "child",
    namespace: str | None = "ns",
    uid: str = "uid-child",
    api_version: str = "v1",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": uid}
    if namespace is not None:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def owner(**kw: Any) -> dict[str, Any]:
    kw.setdefault("kind", "Storm")
    kw.setdefault("name", "parent")
    kw.setdefault("uid", "uid-parent")
    kw.setdefault("api_version", "example.com/v1")
    return obj(**kw)


class Model:
    """A stand-in for a pydantic custom resource: only ``to_object()`` matters."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_object(self) -> dict[str, Any]:
        return self.data


def test_controller_reference_shape() -> None:
    assert ownerref.controller_reference(owner()) == {
        "apiVersion": "example.com/v1",
        "kind": "Storm",
        "name": "parent",
        "uid": "uid-parent",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    ref = ownerref.controller_reference(owner(), block_owner_deletion=False)
    assert ref["blockOwnerDeletion"] is False


def test_owner_without_uid_is_rejected_before_any_round_trip() -> None:
    incomplete = owner()
    del incomplete["metadata"]["uid"]
    with pytest.raises(ownerref.OwnerReferenceError, match=r"metadata\.uid"):
        ownerref.set_controller_reference(incomplete, obj())


def test_set_controller_reference_is_idempotent() -> None:
    child = obj()
    ownerref.set_controller_reference(owner(), child)
    ownerref.set_controller_reference(owner(), child)
    assert child["metadata"]["ownerReferences"] == [ownerref.controller_reference(owner())]
    assert ownerref.is_controlled_by(child, owner())
    assert ownerref.controller_of(child) == ownerref.controller_reference(owner())


def test_recreated_owner_refreshes_uid_and_upgraded_version_replaces() -> None:
    child = obj()
    ownerref.set_controller_reference(owner(), child)
    newer = owner(uid="uid-new", api_version="example.com/v2")
    ownerref.set_controller_reference(newer, child)
    refs = child["metadata"]["ownerReferences"]
    assert len(refs) == 1
    assert refs[0]["uid"] == "uid-new" and refs[0]["apiVersion"] == "example.com/v2"
    assert not ownerref.is_controlled_by(child, owner())
    assert ownerref.is_controlled_by(child, newer)


def test_another_controller_is_refused() -> None:
    child = obj()
    ownerref.set_controller_reference(owner(), child)
    with pytest.raises(ownerref.AlreadyOwnedError) as info:
        ownerref.set_controller_reference(owner(name="other", uid="uid-other"), child)
    assert info.value.owner["name"] == "parent"
    assert "ns/child is already owned by another Storm controller parent" in str(info.value)
    # Same name in another API group is another object too.
    with pytest.raises(ownerref.AlreadyOwnedError):
        ownerref.set_controller_reference(owner(api_version="other.io/v1"), child)


def test_scope_rules() -> None:
    cluster_owner = owner(namespace=None)
    ownerref.set_controller_reference(cluster_owner, obj())  # cluster owns namespaced: fine
    ownerref.set_controller_reference(cluster_owner, obj(namespace=None))
    with pytest.raises(ownerref.OwnerReferenceError, match="cluster-scoped resource"):
        ownerref.set_controller_reference(owner(), obj(namespace=None))
    with pytest.raises(ownerref.OwnerReferenceError, match="cross-namespace"):
        ownerref.set_controller_reference(owner(namespace="a"), obj(namespace="b"))
    with pytest.raises(ownerref.OwnerReferenceError, match="cross-namespace"):
        ownerref.set_owner_reference(owner(namespace="a"), obj(namespace="b"))


def test_plain_owner_references_accumulate_and_never_demote_a_controller() -> None:
    child = obj()
    ownerref.set_controller_reference(owner(), child)
    ownerref.set_owner_reference(owner(name="second", uid="uid-2"), child)
    ownerref.set_owner_reference(owner(), child)  # the controller, again, as a plain owner
    refs = child["metadata"]["ownerReferences"]
    assert [r["name"] for r in refs] == ["parent", "second"]
    assert refs[0]["controller"] is True
    assert "controller" not in refs[1]
    assert ownerref.has_owner_reference(child, owner(name="second", uid="uid-2"))
    assert ownerref.controller_of(child) is refs[0]


def test_remove_owner_reference() -> None:
    child = obj()
    ownerref.set_owner_reference(owner(), child)
    ownerref.set_owner_reference(owner(name="second", uid="uid-2"), child)
    assert ownerref.remove_owner_reference(owner(), child) is True
    assert [r["name"] for r in child["metadata"]["ownerReferences"]] == ["second"]
    assert ownerref.remove_owner_reference(owner(), child) is False
    assert ownerref.remove_owner_reference(owner(name="second"), child) is True
    assert "ownerReferences" not in child["metadata"]


def test_controller_of_and_is_controlled_by_without_references() -> None:
    child = obj()
    assert ownerref.controller_of(child) is None
    assert not ownerref.is_controlled_by(child, owner())
    ownerref.set_owner_reference(owner(), child)
    assert ownerref.controller_of(child) is None  # a plain owner is not the controller
    assert not ownerref.is_controlled_by(child, owner())


def test_models_are_accepted_as_owners() -> None:
    child = obj()
    ownerref.set_controller_reference(Model(owner()), child)
    assert ownerref.is_controlled_by(Model(child), Model(owner()))
    with pytest.raises(TypeError):
        ownerref.controller_reference(42)  # type: ignore[arg-type]
