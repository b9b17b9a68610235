"""Mapping Nimbus's exceptions to typed errors, and reading "not a leader" answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from thriftpy2.thrift import TApplicationException

from pilothouse.operators.storm.nimbus import errors, idl


@pytest.mark.parametrize(
    ("struct", "expected"),
    [
        ("AlreadyAliveException", errors.AlreadyAliveError),
        ("NotAliveException", errors.NotAliveError),
        ("InvalidTopologyException", errors.InvalidTopologyError),
        ("AuthorizationException", errors.AuthorizationError),
        ("KeyNotFoundException", errors.KeyNotFoundError),
        ("KeyAlreadyExistsException", errors.KeyAlreadyExistsError),
        ("IllegalStateException", errors.IllegalStateError),
    ],
)
def test_declared_exceptions_map_to_rejections(struct: str, expected: type[Exception]) -> None:
    error = errors.from_thrift(getattr(idl.storm, struct)(msg="the reason"))
    assert type(error) is expected
    assert isinstance(error, errors.NimbusRejected)
    assert str(error) == "the reason"


def test_application_exceptions_keep_their_kind() -> None:
    error = errors.from_thrift(TApplicationException(TApplicationException.UNKNOWN_METHOD, "x"))
    assert isinstance(error, errors.ApplicationError)
    assert error.kind == TApplicationException.UNKNOWN_METHOD


@given(host=st.from_regex(r"[a-z][a-z0-9.-]{0,30}", fullmatch=True), port=st.integers(1, 65535))
def test_not_a_leader_names_the_leader_in_both_forms(host: str, port: int) -> None:
    java = (
        f"java.lang.RuntimeException: not a leader, current leader is NimbusInfo{{host='{host}', "
        f"port={port}, isLeader=true}}"
    )
    plain = f"not a leader, current leader is {host}:{port}"
    for message in (java, plain):
        error = errors.from_thrift(
            TApplicationException(TApplicationException.INTERNAL_ERROR, message)
        )
        assert isinstance(error, errors.NotLeaderError)
        assert isinstance(error, errors.NimbusUnavailable)
        assert error.leader == f"{host}:{port}"


def test_not_a_leader_without_a_known_leader() -> None:
    error = errors.not_leader("not a leader, no leader elected yet")
    assert error is not None and error.leader is None
    assert errors.not_leader("some other failure") is None


def test_topology_errors_list_every_problem() -> None:
    error = errors.TopologyError(["bolt 'a': no inputs", "spout 'b': bad name"])
    assert "bolt 'a': no inputs" in str(error) and "spout 'b'" in str(error)
    assert error.problems == ["bolt 'a': no inputs", "spout 'b': bad name"]
