"""A replica's configuration rules, without starting anything."""

from __future__ import annotations

import pathlib

import pytest

from pilothouse.controlplane import replica


@pytest.mark.parametrize(
    ("name", "peers", "listen", "expected"),
    [
        ("r0", {}, None, ("127.0.0.1", "127.0.0.1")),
        ("r0", {"r0": "http://10.1.2.3:2380"}, None, ("10.1.2.3", "10.1.2.3")),
        # DNS discovery: a pod's name is advertised, and etcd listens on every interface.
        (
            "cp-1",
            {"cp-1": "http://cp-1.cp.gitstratum.svc.cluster.local:2380"},
            None,
            ("cp-1.cp.gitstratum.svc.cluster.local", "0.0.0.0"),
        ),
        (
            "cp-1",
            {"cp-1": "http://cp-1.cp.gitstratum.svc.cluster.local:2380"},
            "10.0.0.9",
            ("cp-1.cp.gitstratum.svc.cluster.local", "10.0.0.9"),
        ),
        # Someone else's entry says nothing about this replica's address.
        ("r1", {"r0": "http://10.1.2.3:2380"}, None, ("127.0.0.1", "127.0.0.1")),
    ],
)
def test_member_addresses(
    name: str, peers: dict[str, str], listen: str | None, expected: tuple[str, str]
) -> None:
    assert replica.member_addresses(name, peers, listen) == expected


def test_lock_ttls_must_outlast_the_election_timeout() -> None:
    with pytest.raises(ValueError, match="longer than the etcd election timeout"):
        replica.ReplicaConfig("r0", pathlib.Path("/tmp/x"), min_lock_ttl=1, election_ms=1000)
    ok = replica.ReplicaConfig("r0", pathlib.Path("/tmp/x"))
    assert ok.min_lock_ttl * 1000 > ok.election_ms
    assert ok.etcd_timeout == replica.DEFAULT_ETCD_TIMEOUT
