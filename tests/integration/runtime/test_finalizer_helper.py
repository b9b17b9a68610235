"""The finalizer helper against the embedded API server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pilothouse.api.kinds import CONFIGMAP
from pilothouse.client import errors
from pilothouse.client.client import Client
from pilothouse.runtime import finalizer as fin
from pilothouse.testing.eventually import eventually_async

NAME = "example.com/cleanup"
OTHER = "other.example.org/keep"
NS = "default"


class Recorder:
    """apply/cleanup callbacks that remember what they saw and can be made to fail."""

    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []
        self.cleaned: list[dict[str, Any]] = []
        self.fail_cleanup = False

    async def apply(self, obj: dict[str, Any]) -> str:
        self.applied.append(obj)
        return "applied"

    async def cleanup(self, obj: dict[str, Any]) -> str:
        self.cleaned.append(obj)
        if self.fail_cleanup:
            raise RuntimeError("external system unavailable")
        return "cleaned"


async def make(client: Client, finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"cm-{uuid.uuid4().hex[:8]}", "namespace": NS}
    if finalizers:
        meta["finalizers"] = finalizers
    obj: dict[str, Any] = await client.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}
    )
    return obj


async def get(client: Client, obj: dict[str, Any]) -> dict[str, Any]:
    current: dict[str, Any] = await client.get(CONFIGMAP, obj["metadata"]["name"], NS)
    return current


async def gone(client: Client, obj: dict[str, Any]) -> bool:
    try:
        await get(client, obj)
    except errors.NotFound:
        return True
    return False


async def test_lifecycle_add_apply_delete_cleanup_remove(client: Client) -> None:
    rec = Recorder()
    obj = await make(client)

    # First pass: the finalizer is added before apply runs, and apply sees it.
    assert await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup) == "applied"
    assert fin.has_finalizer(rec.applied[0], NAME)
    obj = await get(client, obj)
    assert obj["metadata"]["finalizers"] == [NAME]

    # Second pass: just apply, no write.
    rv = obj["metadata"]["resourceVersion"]
    assert await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup) == "applied"
    assert (await get(client, obj))["metadata"]["resourceVersion"] == rv
    assert rec.cleaned == []

    # Delete: the finalizer holds the object back until cleanup ran.
    await client.delete(CONFIGMAP, obj["metadata"]["name"], NS)
    obj = await get(client, obj)
    assert fin.is_deleting(obj)
    assert await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup) == "cleaned"
    assert len(rec.cleaned) == 1 and len(rec.applied) == 2
    await eventually_async(lambda: gone(client, obj), timeout=10, message="object deleted")


async def test_cleanup_failure_keeps_object_and_finalizer(client: Client) -> None:
    rec = Recorder()
    obj = await make(client, [NAME])
    await client.delete(CONFIGMAP, obj["metadata"]["name"], NS)
    obj = await get(client, obj)

    rec.fail_cleanup = True
    with pytest.raises(RuntimeError, match="external system unavailable"):
        await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup)
    obj = await get(client, obj)
    assert obj["metadata"]["finalizers"] == [NAME]
    assert fin.is_deleting(obj)

    # The retry (the controller's requeue) succeeds and releases the object.
    rec.fail_cleanup = False
    assert await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup) == "cleaned"
    assert len(rec.cleaned) == 2 and rec.applied == []
    await eventually_async(lambda: gone(client, obj), timeout=10, message="object deleted")


async def test_deleting_without_our_finalizer_does_nothing(client: Client) -> None:
    rec = Recorder()
    obj = await make(client, [OTHER])
    await client.delete(CONFIGMAP, obj["metadata"]["name"], NS)
    obj = await get(client, obj)
    assert await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup) is None
    assert rec.applied == [] and rec.cleaned == []
    assert (await get(client, obj))["metadata"]["finalizers"] == [OTHER]


async def test_concurrent_finalizer_from_another_party_is_preserved(client: Client) -> None:
    rec = Recorder()
    obj = await make(client)
    stale = obj
    # Another controller adds its finalizer after we read the object.
    await client.patch(
        CONFIGMAP,
        obj["metadata"]["name"],
        {"metadata": {"finalizers": [OTHER]}},
        namespace=NS,
    )
    with pytest.raises(fin.FinalizerPatchError) as info:
        await fin.finalize(client, CONFIGMAP, stale, NAME, rec.apply, rec.cleanup)
    assert isinstance(info.value.__cause__, errors.ApiError)
    assert rec.applied == []  # apply never runs without the finalizer in place
    assert (await get(client, obj))["metadata"]["finalizers"] == [OTHER]

    # The requeue reads again and appends: both finalizers survive.
    obj = await get(client, obj)
    assert await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup) == "applied"
    obj = await get(client, obj)
    assert obj["metadata"]["finalizers"] == [OTHER, NAME]

    # Deletion: our cleanup removes only our finalizer; the other one still holds the object.
    await client.delete(CONFIGMAP, obj["metadata"]["name"], NS)
    obj = await get(client, obj)
    assert await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup) == "cleaned"
    obj = await get(client, obj)
    assert obj["metadata"]["finalizers"] == [OTHER]


async def test_removal_with_a_stale_index_fails_safely(client: Client) -> None:
    rec = Recorder()
    obj = await make(client, [OTHER, NAME])
    await client.delete(CONFIGMAP, obj["metadata"]["name"], NS)
    stale = await get(client, obj)
    # The other party finishes first: our finalizer moves from index 1 to 0.
    await client.patch(
        CONFIGMAP,
        obj["metadata"]["name"],
        [{"op": "remove", "path": "/metadata/finalizers/0"}],
        namespace=NS,
        patch_type="json",
    )
    with pytest.raises(fin.FinalizerPatchError):
        await fin.finalize(client, CONFIGMAP, stale, NAME, rec.apply, rec.cleanup)
    assert (await get(client, obj))["metadata"]["finalizers"] == [NAME]
    # Cleanup ran once already and runs again on the retry: it must be idempotent.
    fresh = await get(client, obj)
    assert await fin.finalize(client, CONFIGMAP, fresh, NAME, rec.apply, rec.cleanup) == "cleaned"
    assert len(rec.cleaned) == 2
    await eventually_async(lambda: gone(client, obj), timeout=10, message="object deleted")


async def test_vanished_object_is_not_applied(client: Client) -> None:
    rec = Recorder()
    obj = await make(client)
    await client.delete(CONFIGMAP, obj["metadata"]["name"], NS)
    assert await fin.finalize(client, CONFIGMAP, obj, NAME, rec.apply, rec.cleanup) is None
    assert rec.applied == []


@pytest.mark.parametrize("name", ["cleanup", "example/cleanup", "Example.com/x y", "a.b/c/d", ""])
async def test_finalizer_names_must_be_domain_qualified(client: Client, name: str) -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="invalid finalizer name"):
        await fin.finalize(
            client, CONFIGMAP, {"metadata": {"name": "x"}}, name, rec.apply, rec.cleanup
        )


def test_in_place_helpers() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    assert fin.add_finalizer(obj, NAME) is True
    assert fin.add_finalizer(obj, NAME) is False
    assert fin.has_finalizer(obj, NAME)
    assert fin.remove_finalizer(obj, NAME) is True
    assert fin.remove_finalizer(obj, NAME) is False
    assert obj["metadata"]["finalizers"] == []
    assert not fin.is_deleting(obj)
