"""Watch semantics: resumption, 410 Gone, bookmarks, initial events, timeouts."""

from __future__ import annotations

import threading

from pilothouse.apiserver import server as server_mod
from pilothouse.testing import apiserver
from pilothouse.testing.http import RawClient

CMS = "/api/v1/namespaces/default/configmaps"


def _create(raw: RawClient, name: str) -> int:
    resp = raw.request("POST", CMS, {"metadata": {"name": name}, "data": {"a": "1"}})
    assert resp.status == 201, resp.body
    return int(resp.json()["metadata"]["resourceVersion"])


def test_resume_from_resource_version(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    rv1 = _create(raw, "a")
    _create(raw, "b")
    _create(raw, "c")
    events = raw.stream(f"{CMS}?watch=true&resourceVersion={rv1}&timeoutSeconds=5")
    got = [next(events)["object"]["metadata"]["name"] for _ in range(2)]
    assert got == ["b", "c"]


def test_too_old_resource_version_is_410_error_event(tmp_path: object) -> None:
    cfg = server_mod.ServerConfig(simulation=False, history_size=5)
    with apiserver.ServerThread(cfg).start() as cluster:
        raw = RawClient(cluster)
        first = _create(raw, "first")
        for i in range(10):
            _create(raw, f"n{i}")
        events = list(raw.stream(f"{CMS}?watch=true&resourceVersion={first}"))
        assert len(events) == 1 and events[0]["type"] == "ERROR"
        assert events[0]["object"]["code"] == 410
        assert events[0]["object"]["reason"] == "Expired"


def test_send_initial_events_ends_with_annotated_bookmark(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    _create(raw, "x")
    _create(raw, "y")
    events = raw.stream(
        f"{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        "&allowWatchBookmarks=true&timeoutSeconds=5"
    )
    first = [next(events) for _ in range(3)]
    assert [e["type"] for e in first] == ["ADDED", "ADDED", "BOOKMARK"]
    assert first[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_periodic_bookmarks_and_timeout() -> None:
    cfg = server_mod.ServerConfig(simulation=False, bookmark_interval=0.1)
    with apiserver.ServerThread(cfg).start() as cluster:
        raw = RawClient(cluster)
        rv = _create(raw, "x")
        events = list(
            raw.stream(
                f"{CMS}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=1"
            )
        )
        # The stream ended by itself after timeoutSeconds and carried bookmarks meanwhile.
        assert events and all(e["type"] == "BOOKMARK" for e in events)
        assert events[-1]["object"]["metadata"]["resourceVersion"] == str(rv)


def test_many_watchers_fan_out(cluster: apiserver.ServerThread) -> None:
    raw = RawClient(cluster)
    rv = _create(raw, "start")
    results: list[list[str]] = [[] for _ in range(20)]

    def consume(i: int) -> None:
        for ev in raw.stream(f"{CMS}?watch=true&resourceVersion={rv}&timeoutSeconds=10"):
            results[i].append(ev["object"]["metadata"]["name"])
            if len(results[i]) == 5:
                return

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for i in range(5):
        _create(raw, f"f{i}")
    for t in threads:
        t.join(15)
    assert all(r == [f"f{i}" for i in range(5)] for r in results)
