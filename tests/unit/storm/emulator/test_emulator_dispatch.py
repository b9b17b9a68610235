"""The emulator's dispatcher without sockets: every IDL method has a handler, outcomes map
to Thrift the way Java Nimbus maps them."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from thriftpy2.thrift import TApplicationException

from pilothouse.operators.storm.nimbus import endpoint, errors, idl, wire
from pilothouse.operators.storm.nimbus.emulator import config, core, dispatch, handler, scheduler


@pytest.fixture
def nimbus(tmp_path: pathlib.Path) -> Iterator[core.EmulatedNimbus]:
    n = core.EmulatedNimbus(config.EmulatorConfig(data_dir=tmp_path).validated())
    n.become_leader()
    yield n
    n.close()


async def call(n: core.EmulatedNimbus, method: str, **args: Any) -> Any:
    reply = await dispatch.dispatch(n, wire.encode_call(method, 7, **args)[4:])
    assert reply is not None
    return wire.decode_reply(method, 7, reply[4:])


def test_every_idl_method_has_a_handler() -> None:
    declared = {name[: -len("_args")] for name in dir(idl.Nimbus) if name.endswith("_args")}
    assert declared == set(handler.METHODS)
    assert {
        "beginFileUpload",
        "uploadChunk",
        "finishFileUpload",
        "submitTopology",
        "submitTopologyWithOpts",
        "killTopology",
        "killTopologyWithOpts",
        "activate",
        "deactivate",
        "rebalance",
    } == handler.LEADER_ONLY


async def test_declared_and_undeclared_rejections(nimbus: core.EmulatedNimbus) -> None:
    with pytest.raises(errors.NotAliveError, match=r"^ghost$"):
        await call(nimbus, "killTopology", name="ghost")
    # getTopologySummaryByName declares only AuthorizationException: Java answers an
    # undeclared exception with a TApplicationException naming it.
    with pytest.raises(errors.ApplicationError, match=r"^NotAliveException: ghost$") as caught:
        await call(nimbus, "getTopologySummaryByName", name="ghost")
    assert caught.value.kind == TApplicationException.INTERNAL_ERROR
    with pytest.raises(errors.ApplicationError, match=r"^NotAliveException: ghost-1-1$"):
        await call(nimbus, "getTopologySummaryById", id="ghost-1-1")
    with pytest.raises(errors.KeyNotFoundError, match=r"^x-stormjar.jar$"):
        await call(nimbus, "beginBlobDownload", key="x-stormjar.jar")
    with pytest.raises(errors.NotAliveError, match=r"^nowhere$"):
        await call(nimbus, "getSupervisorPageInfo", id="nowhere", host=None, is_include_sys=False)


async def test_a_handler_bug_is_an_internal_error_not_a_dead_server(
    nimbus: core.EmulatedNimbus, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(n: core.EmulatedNimbus, args: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setitem(handler.METHODS, "getLeader", handler._Method(broken, False))
    with pytest.raises(errors.ApplicationError, match="KeyError: 'boom'") as caught:
        await call(nimbus, "getLeader")
    assert caught.value.kind == TApplicationException.INTERNAL_ERROR


async def test_unknown_methods_and_garbage(nimbus: core.EmulatedNimbus) -> None:
    frame = wire.encode_call("getLeader", 3)[4:].replace(b"getLeader", b"getLeadex")
    reply = await dispatch.dispatch(nimbus, frame)
    assert reply is not None
    with pytest.raises(errors.ApplicationError, match="Invalid method name: 'getLeadex'") as caught:
        wire.decode_reply("getLeadex", 3, reply[4:])
    assert caught.value.kind == TApplicationException.UNKNOWN_METHOD
    assert await dispatch.dispatch(nimbus, b"\x00\x01garbage") is None


async def test_a_follower_refuses_writes_and_names_its_leader(tmp_path: pathlib.Path) -> None:
    leader = config.EmulatorConfig(data_dir=tmp_path, follower_of=None).validated()
    follower = core.EmulatedNimbus(
        config.EmulatorConfig(
            data_dir=leader.data_dir, follower_of=endpoint.Endpoint("127.0.0.9", 6627)
        ).validated()
    )
    follower.load()
    with pytest.raises(errors.NotLeaderError) as caught:
        await call(follower, "beginFileUpload")
    assert caught.value.leader == "127.0.0.9:6627"
    assert str(caught.value) == "not a leader, current leader is 127.0.0.9:6627"
    got = await call(follower, "getLeader")
    assert (got.host, got.port, got.isLeader) == ("127.0.0.9", 6627, True)
    assert await call(follower, "getTopologySummaries") == []


def test_executor_placement_numbers_tasks_like_storm() -> None:
    placed = scheduler.place({"b": 2, "a": 1}, {"b": 5, "a": 1}, [(0, 6700), (1, 6700)])
    assert [(e.component, e.task_start, e.task_end, e.slot) for e in placed] == [
        ("a", 1, 1, (0, 6700)),
        ("b", 2, 4, (1, 6700)),
        ("b", 5, 6, (0, 6700)),
    ]
    assert all(e.slot is None for e in scheduler.place({"a": 2}, {"a": 2}, []))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", 70000, "port must be 0-65535"),
        ("slots_per_supervisor", 0, "slots per supervisor"),
        ("max_frame", 10, "max buffer size"),
        ("failover_after", 0.0, "failover after must be > 0"),
        ("upload_expiration_secs", -1.0, "upload expiration secs"),
    ],
)
def test_config_names_bad_values(
    tmp_path: pathlib.Path, field: str, value: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        config.EmulatorConfig(data_dir=tmp_path, **{field: value}).validated()
