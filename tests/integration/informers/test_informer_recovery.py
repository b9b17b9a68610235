"""Informer recovery: after a 410 Gone, a dropped connection, a silent stall, or a paged
relist racing with writes, the store ends equal to the server and handlers are told of
every change exactly once -- nothing lost, nothing repeated.

A TCP proxy between the informer's client and the embedded API server cuts, refuses or
freezes connections (see ``informer_kit``); the test's own writes go directly to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import informer_kit
import pytest

from pilothouse.api import kinds
from pilothouse.client import auth as auth_mod
from pilothouse.client import client as client_mod
from pilothouse.client import watch as watch_mod
from pilothouse.runtime import cache as cache_mod
from pilothouse.runtime import informer as informer_mod
from pilothouse.runtime import store as store_mod
from pilothouse.testing import eventually

CM = kinds.CONFIGMAP
SECRET = kinds.SECRET
Obj = dict[str, Any]
EnvFactory = Callable[..., Awaitable[informer_kit.Env]]


def cm(name: str, value: str = "0") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"v": value},
    }


async def server_state(client: client_mod.Client, kind: kinds.Kind = CM) -> dict[str, str]:
    page = await client.list_all(kind, "default")
    return {store_mod.key_of(o): o["metadata"]["resourceVersion"] for o in page.items}


def store_state(inf: informer_mod.Informer) -> dict[str, str]:
    return {k: inf.store.get(k)["metadata"]["resourceVersion"] for k in inf.store.all_keys()}  # type: ignore[index]


async def converged(env: informer_kit.Env, inf: informer_mod.Informer) -> dict[str, str]:
    """Wait until the informer's store equals the server's state; return that state."""

    async def equal() -> dict[str, str] | None:
        want = await server_state(env.direct, inf.kind)
        return want if store_state(inf) == want else None

    return await eventually.eventually_async(equal, message="store never matched the server")


async def start_informer(
    env: informer_kit.Env, **options: Any
) -> tuple[informer_mod.Informer, informer_kit.Recorder, list[str]]:
    reasons: list[str] = []
    inf = informer_mod.Informer(
        env.client,
        CM,
        namespace="default",
        on_relist=lambda _kind, reason: reasons.append(reason),
        **options,
    )
    rec = informer_kit.Recorder()
    inf.add_handler(rec)
    env.track(inf)
    watches = env.watch_requests
    inf.start()
    await inf.wait_synced(10)
    await watching(env, watches)
    return inf, rec, reasons


async def watching(env: informer_kit.Env, before: int) -> None:
    """Until a watch started after ``before`` watch requests has its response."""

    async def started() -> bool:
        return env.watch_requests > before

    await eventually.eventually_async(started, message="the informer never watched")


def assert_each_change_once(
    rec: informer_kit.Recorder,
    mark: int,
    changed: dict[str, str],
    deleted: dict[str, str | None],
) -> None:
    """After ``mark``: every key of ``changed`` was notified exactly once, carrying its final
    resourceVersion; every key of ``deleted`` exactly once as a delete (carrying the given
    resourceVersion, unless None); and nothing else was notified."""
    by_key = rec.by_key(mark)
    assert set(by_key) == set(changed) | set(deleted), by_key
    for key, rv in changed.items():
        assert len(by_key[key]) == 1 and by_key[key][0][1] == rv, (key, by_key[key])
        assert by_key[key][0][0] in ("add", "update")
    for key, deleted_rv in deleted.items():
        assert [t for t, _ in by_key[key]] == ["delete"], (key, by_key[key])
        assert deleted_rv is None or by_key[key][0][1] == deleted_rv, (key, by_key[key])


# -- 410 Gone ----------------------------------------------------------------------------


async def test_relist_after_gone_notifies_every_change_exactly_once(
    informer_env: EnvFactory,
) -> None:
    env = await informer_env(history_size=20)
    w = env.direct
    for i in range(6):
        await w.create(cm(f"cm-{i}"))
    inf, rec, reasons = await start_informer(env)
    before = await converged(env, inf)
    assert [t for t, *_ in rec.events] == ["add"] * 6
    mark = len(rec.events)

    # The informer loses the server; meanwhile the history it would resume from is compacted.
    env.proxy.refuse()
    await w.patch(CM, "cm-0", {"data": {"v": "1"}})
    await w.patch(CM, "cm-1", {"data": {"v": "1"}})
    await w.patch(CM, "cm-1", {"data": {"v": "2"}})
    await w.delete(CM, "cm-2", "default")
    await w.delete(CM, "cm-3", "default")
    await w.create(cm("cm-3", "reborn"))  # same name, new object
    await w.create(cm("new-0"))
    await w.create(cm("new-1"))
    await w.create(cm("fleeting"))
    await w.delete(CM, "fleeting", "default")
    for i in range(25):  # more writes than the server's history holds
        await w.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"fill-{i}"}})
    env.proxy.accept()

    after = await converged(env, inf)
    assert reasons == ["initial", "gone"] and inf.relists == 2
    assert_each_change_once(
        rec,
        mark,
        changed={k: after[k] for k in ("default/cm-0", "default/cm-1", "default/cm-3")}
        | {k: after[k] for k in ("default/new-0", "default/new-1")},
        # A relist learns of a deletion by absence: it reports the last state it knew.
        deleted={"default/cm-2": before["default/cm-2"]},
    )
    kinds_of = {k: [t for t, _ in v] for k, v in rec.by_key(mark).items()}
    assert kinds_of["default/new-0"] == ["add"] and kinds_of["default/cm-0"] == ["update"]
    # The reborn object is reported as an update from the state last known to the new one.
    i = next(n for n, e in enumerate(rec.events) if n >= mark and e[1] == "default/cm-3")
    old = rec.olds[i]
    assert old is not None and old["metadata"]["resourceVersion"] == before["default/cm-3"]
    assert rec.events[i][3]["data"] == {"v": "reborn"}

    # Watching resumed from the relist: later changes still arrive, once.
    mark = len(rec.events)
    await w.patch(CM, "cm-4", {"data": {"v": "later"}})
    after = await converged(env, inf)
    assert rec.since(mark) == [("update", "default/cm-4", after["default/cm-4"])]
    assert inf.relists == 2


async def test_paged_relist_racing_with_writes_notifies_once(
    informer_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages after the first are read at the current revision but the watch starts from the
    first page's: changes in between are seen twice (in a page and replayed by the watch).
    The informer must neither repeat them nor go back to an older state."""
    env = await informer_env()
    w = env.direct
    for name in ("a", "b", "c", "d", "e", "f"):
        await w.create(cm(name))
    real_list = env.client.list
    raced = False

    async def list_then_race(*args: Any, **kw: Any) -> client_mod.ObjectList:
        nonlocal raced
        page = await real_list(*args, **kw)
        if not raced:
            raced = True
            await w.patch(CM, "a", {"data": {"v": "1"}})  # already listed: a real update
            await w.patch(CM, "e", {"data": {"v": "1"}})  # listed later, twice changed
            await w.patch(CM, "e", {"data": {"v": "2"}})
            await w.delete(CM, "f", "default")  # gone before its page
            await w.create(cm("g"))  # born before its page
        return page

    monkeypatch.setattr(env.client, "list", list_then_race)
    inf, rec, reasons = await start_informer(env, page_size=2)
    final = await converged(env, inf)
    assert reasons == ["initial"]
    assert rec.since(0)[:6] == [
        ("add", f"default/{n}", rv)
        for n, rv in [
            ("a", rec.events[0][2]),
            ("b", final["default/b"]),
            ("c", final["default/c"]),
            ("d", final["default/d"]),
            ("e", final["default/e"]),
            ("g", final["default/g"]),
        ]
    ]
    assert rec.since(6) == [("update", "default/a", final["default/a"])]
    # Never a step back: e was only ever seen at its final state.
    assert next(o for _t, k, _rv, o in rec.events if k == "default/e")["data"] == {"v": "2"}


# -- dropped connections -----------------------------------------------------------------


async def test_dropped_connections_resume_the_watch_without_relisting(
    informer_env: EnvFactory, caplog: pytest.LogCaptureFixture
) -> None:
    env = await informer_env()
    w = env.direct
    for i in range(3):
        await w.create(cm(f"d-{i}"))
    inf, rec, reasons = await start_informer(env)
    await converged(env, inf)
    mark, watches = len(rec.events), env.watch_requests

    env.proxy.drop()
    await w.patch(CM, "d-0", {"data": {"v": "1"}})
    await w.delete(CM, "d-1", "default")
    await w.create(cm("d-new"))
    after = await converged(env, inf)
    assert env.watch_requests > watches  # it watched again...
    assert reasons == ["initial"] and inf.relists == 1  # ...from where it was, no relist
    assert_each_change_once(
        rec,
        mark,
        changed={k: after[k] for k in ("default/d-0", "default/d-new")},
        deleted={"default/d-1": None},  # as the watch delivered it: at the deletion's rv
    )

    # Again and again, each time after the new watch had worked: each change once, and the
    # retry delay does not grow from one disconnection to the next.
    for value in ("1", "2"):
        mark = len(rec.events)
        env.proxy.drop()
        await w.patch(CM, "d-2", {"data": {"v": value}})
        after = await converged(env, inf)
        assert rec.since(mark) == [("update", "default/d-2", after["default/d-2"])]
    assert inf.relists == 1
    delays = [
        r.getMessage().rsplit(" ", 1)[-1]
        for r in caplog.records
        if r.name == "pilothouse.informer" and "retrying in" in r.getMessage()
    ]
    assert delays == ["0.8s"] * 3


# -- silent stalls -----------------------------------------------------------------------


async def start_cache(
    env: informer_kit.Env, inactivity_timeout: float
) -> tuple[cache_mod.Cache, informer_mod.Informer, informer_kit.Recorder, list[str]]:
    reasons: list[str] = []
    cache = cache_mod.Cache(
        env.client,
        namespace="default",
        inactivity_timeout=inactivity_timeout,
        on_relist=lambda _k, reason: reasons.append(reason),
    )
    inf = cache.informer(CM)
    rec = informer_kit.Recorder()
    inf.add_handler(rec)
    env.track(cache)
    watches = env.watch_requests
    cache.start()
    await cache.wait_for_sync(10)
    await watching(env, watches)
    return cache, inf, rec, reasons


async def test_stalled_connection_is_abandoned_for_a_new_one(informer_env: EnvFactory) -> None:
    """Only the established connection died (new ones work): the informer notices the
    silence after ``inactivity_timeout`` and resumes on a new connection."""
    env = await informer_env()
    w = env.direct
    await w.create(cm("s-0"))
    cache, inf, rec, reasons = await start_cache(env, inactivity_timeout=0.5)
    await converged(env, inf)
    mark, accepted, watches = len(rec.events), env.proxy.accepted, env.watch_requests

    env.proxy.freeze(new_connections=False)
    await w.patch(CM, "s-0", {"data": {"v": "during-stall"}})
    await w.create(cm("s-1"))
    after = await converged(env, inf)
    assert env.proxy.accepted > accepted and env.watch_requests > watches
    assert reasons == ["initial"]
    assert_each_change_once(
        rec, mark, changed={k: after[k] for k in ("default/s-0", "default/s-1")}, deleted={}
    )
    assert (await cache.get(CM, "s-0", "default"))["data"] == {"v": "during-stall"}
    env.proxy.resume()


async def test_full_stall_recovers_after_resume(informer_env: EnvFactory) -> None:
    """Everything stalls, new connections included, then the network comes back: changes
    made during the stall arrive afterwards, once, without a relist."""
    env = await informer_env()
    w = env.direct
    await w.create(cm("f-0"))
    cache, inf, rec, reasons = await start_cache(env, inactivity_timeout=0.5)
    await converged(env, inf)
    mark, accepted = len(rec.events), env.proxy.accepted

    env.proxy.freeze(new_connections=True)
    await w.patch(CM, "f-0", {"data": {"v": "during-stall"}})
    await w.create(cm("f-1"))
    await w.delete(CM, "f-0", "default")
    await w.create(cm("f-0", "again"))

    async def gave_up_on_the_stalled_watch() -> bool:
        return env.proxy.accepted > accepted

    await eventually.eventually_async(gave_up_on_the_stalled_watch)
    assert len(rec.events) == mark  # nothing got through the stall
    env.proxy.resume()
    after = await converged(env, inf)
    assert reasons == ["initial"] and inf.relists == 1
    by_key = rec.by_key(mark)
    assert by_key["default/f-1"] == [("add", after["default/f-1"])]
    # f-0 changed, was deleted and re-created: each step once, ending at the final state.
    assert [t for t, _ in by_key["default/f-0"]] == ["update", "delete", "add"]
    assert by_key["default/f-0"][-1][1] == after["default/f-0"]
    assert (await cache.get(CM, "f-0", "default"))["data"] == {"v": "again"}


async def test_bookmarks_keep_an_idle_watch_alive(informer_env: EnvFactory) -> None:
    """With bookmarks every 0.1 s, an idle watch outlives a 0.5 s inactivity timeout many
    times over on its first connection."""
    env = await informer_env(bookmark_interval=0.1)
    _, inf, rec, reasons = await start_cache(env, inactivity_timeout=0.5)
    accepted, watches, chunks = env.proxy.accepted, env.watch_requests, env.proxy.chunks_down

    async def many_bookmarks_later() -> bool:
        return env.proxy.chunks_down - chunks >= 15  # 1.5 s of bookmarks, at least

    await eventually.eventually_async(many_bookmarks_later, timeout=20)
    assert env.proxy.accepted == accepted and env.watch_requests == watches
    assert inf.relists == 1 and reasons == ["initial"]
    await env.direct.create(cm("still-listening"))
    await converged(env, inf)
    assert rec.since(0) == [
        ("add", "default/still-listening", store_state(inf)["default/still-listening"])
    ]
    assert env.watch_requests == watches


# -- unexpected failures -----------------------------------------------------------------


async def test_an_unexpected_error_does_not_kill_the_informer(
    informer_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = await informer_env()
    real_watch = env.client.watch
    broken = True

    async def watch_once_broken(*args: Any, **kw: Any) -> AsyncIterator[watch_mod.WatchEvent]:
        nonlocal broken
        if broken:
            broken = False
            raise ValueError("an answer the informer cannot read")
        async with contextlib.aclosing(real_watch(*args, **kw)) as events:  # type: ignore[type-var]
            async for ev in events:
                yield ev

    monkeypatch.setattr(env.client, "watch", watch_once_broken)
    inf, rec, reasons = await start_informer(env)  # returns once a (second) watch runs
    assert not broken and reasons == ["initial", "error"]
    await env.direct.create(cm("after-error"))
    await converged(env, inf)
    assert [(t, k) for t, k, _ in rec.since(0)] == [("add", "default/after-error")]


class SometimesFailingAuth:
    """The server's token, except on the calls numbered in ``fail_on`` (a credential
    provider failing for a while)."""

    def __init__(self, token: str, fail_on: set[int]) -> None:
        self.token = token
        self.fail_on = fail_on
        self.calls = 0

    async def header(self) -> str | None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise auth_mod.AuthError("exec plugin 'cloud-login' exited 1: network unreachable")
        return f"Bearer {self.token}"

    def invalidate(self) -> None:
        return None


async def test_a_failing_credential_provider_is_retried(informer_env: EnvFactory) -> None:
    env = await informer_env()
    auth = SometimesFailingAuth(env.server.token, fail_on={2})  # 1: list, 2: first watch
    env.client.config.auth = auth
    inf, rec, reasons = await start_informer(env)  # returns once a watch runs
    assert auth.calls == 3
    await env.direct.create(cm("after-auth-failure"))
    await converged(env, inf)
    assert reasons == ["initial"]
    assert [(t, k) for t, k, _ in rec.since(0)] == [("add", "default/after-auth-failure")]


async def test_a_watch_that_ends_at_once_is_retried_with_backoff(
    informer_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy that closes every watch stream at once must not make the informer reconnect
    in a tight loop."""
    env = await informer_env()
    calls: list[float] = []

    async def empty_watch(*_args: Any, **_kw: Any) -> AsyncIterator[watch_mod.WatchEvent]:
        calls.append(asyncio.get_running_loop().time())
        return
        yield  # an async generator that ends at once

    monkeypatch.setattr(env.client, "watch", empty_watch)
    inf = informer_mod.Informer(env.client, CM, namespace="default")
    env.track(inf)
    inf.start()

    async def retried() -> bool:
        return len(calls) >= 2

    await eventually.eventually_async(retried)
    assert calls[1] - calls[0] >= 0.5, calls
    assert inf.relists == 1


async def test_server_side_watch_timeouts_resume_without_relisting(
    informer_env: EnvFactory,
) -> None:
    env = await informer_env()
    inf, rec, reasons = await start_informer(env, watch_timeout=(1, 1))
    watches = env.watch_requests

    async def rewatched() -> bool:
        return env.watch_requests > watches

    await eventually.eventually_async(rewatched)
    await env.direct.create(cm("after-timeout"))
    await converged(env, inf)
    assert reasons == ["initial"]
    assert [(t, k) for t, k, _ in rec.since(0)] == [("add", "default/after-timeout")]
