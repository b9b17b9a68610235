"""The Session finalizer that deletes the sessions API's records: a deleted Session's
connection log goes with it (and only its own), a database that is down holds the
deletion until it is back, and a finalizer left behind by an earlier configuration never
blocks a deletion."""

from __future__ import annotations

import pathlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pilothouse.client import client as client_mod
from pilothouse.client import errors
from pilothouse.operators.sessions import lifecycle, operator_setup, records
from pilothouse.operators.sessions.api import db
from pilothouse.testing import eventually, fixtures

NS = "default"
Make = Callable[..., fixtures.ManagerHandle]


def new_session(name: str) -> dict[str, Any]:
    return {
        "apiVersion": lifecycle.SESSION.api_version,
        "kind": "Session",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"user": "alice", "image": "busybox"},
    }


async def start(make_manager: Make, store: records.RecordStore | None) -> fixtures.ManagerHandle:
    options = lifecycle.SessionOptions(records=store)
    handle = make_manager(lambda mgr: operator_setup.setup(mgr, options))
    handle.start()
    await handle.wait_started()
    return handle


async def finalizers(client: client_mod.Client, name: str) -> list[str] | None:
    """The Session's finalizers; None once it is gone."""
    try:
        obj: dict[str, Any] = await client.get(lifecycle.SESSION, name, NS)
    except errors.NotFound:
        return None
    return list(obj["metadata"].get("finalizers") or [])


async def wait_gone(client: client_mod.Client, name: str) -> None:
    async def gone() -> bool:
        return await finalizers(client, name) is None

    await eventually.eventually_async(gone, timeout=10, message=f"session {name} deleted")


async def wait_finalizer(client: client_mod.Client, name: str) -> None:
    async def present() -> bool:
        return records.FINALIZER in (await finalizers(client, name) or [])

    await eventually.eventually_async(present, timeout=10, message=f"{name} has the finalizer")


async def test_deleting_a_session_deletes_its_records_and_only_its_own(
    sessions_client: client_mod.Client, make_manager: Make, tmp_path: pathlib.Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sessions.db'}"
    database = db.Database(url)
    await database.start()
    now = datetime.now(UTC)
    for name in ("doomed", "doomed", "kept"):
        await database.open_connection(NS, name, "alice", "test", now)
    store = records.DatabaseRecords(url)
    try:
        await start(make_manager, store)
        for name in ("doomed", "kept"):
            await sessions_client.create(new_session(name))
            await wait_finalizer(sessions_client, name)

        await sessions_client.delete(lifecycle.SESSION, "doomed", NS)
        await wait_gone(sessions_client, "doomed")

        assert await database.connections(NS, "doomed") == []
        assert len(await database.connections(NS, "kept")) == 1
        assert records.FINALIZER in (await finalizers(sessions_client, "kept") or [])
    finally:
        await store.close()
        await database.close()


class FlakyStore:
    """A record store that is down until ``up`` is set, counting the attempts."""

    def __init__(self) -> None:
        self.up = False
        self.attempts = 0
        self.forgotten: list[tuple[str, str]] = []

    async def forget_session(self, namespace: str, name: str) -> None:
        self.attempts += 1
        if not self.up:
            raise ConnectionError("database unreachable")
        self.forgotten.append((namespace, name))

    async def close(self) -> None:
        return None


def retried(store: FlakyStore) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return store.attempts >= 2

    return check


async def test_an_unreachable_database_holds_the_deletion_until_it_is_back(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    store = FlakyStore()
    await start(make_manager, store)
    await sessions_client.create(new_session("held"))
    await wait_finalizer(sessions_client, "held")

    await sessions_client.delete(lifecycle.SESSION, "held", NS)
    await eventually.eventually_async(retried(store), timeout=10, message="cleanup retried")
    obj = await sessions_client.get(lifecycle.SESSION, "held", NS)
    assert obj["metadata"].get("deletionTimestamp")  # terminating, held by the finalizer
    assert store.forgotten == []

    store.up = True
    await wait_gone(sessions_client, "held")
    assert store.forgotten == [(NS, "held")]


async def test_a_left_over_finalizer_is_removed_when_no_database_is_configured(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    body = new_session("orphan")
    body["metadata"]["finalizers"] = [records.FINALIZER]
    await sessions_client.create(body)
    await start(make_manager, None)

    await sessions_client.delete(lifecycle.SESSION, "orphan", NS)
    await wait_gone(sessions_client, "orphan")


async def test_no_finalizer_is_added_without_a_database(
    sessions_client: client_mod.Client, make_manager: Make
) -> None:
    await start(make_manager, None)
    await sessions_client.create(new_session("plain"))

    async def reconciled() -> bool:
        obj = await sessions_client.get(lifecycle.SESSION, "plain", NS)
        return bool((obj.get("status") or {}).get("phase"))

    await eventually.eventually_async(reconciled, timeout=10, message="plain reconciled")
    assert records.FINALIZER not in (await finalizers(sessions_client, "plain") or [])
