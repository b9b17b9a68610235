"""``pilothouse controlplane`` through the real CLI against a running replica (a child
process): nodes, ring, locks, status, snapshot save and restore into a fresh cluster, and
the exit codes and messages of bad input."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pilothouse.testing.controlplane import ControlPlaneCluster

PILOTHOUSE = pathlib.Path(sys.executable).with_name("pilothouse")


def cli(endpoint: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(PILOTHOUSE), "controlplane", *args, "--endpoints", endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneCluster]:
    with ControlPlaneCluster(tmp_path_factory.mktemp("cp-cli"), size=1) as cluster:
        cluster.start()
        yield cluster


def test_nodes_ring_and_locks(one: ControlPlaneCluster) -> None:
    ep = one.endpoints[0]
    for i, zone in enumerate("abcab"):
        cli(
            ep,
            "nodes",
            "add",
            f"obj-{i}",
            "--address",
            f"10.0.0.{i}:7000",
            "--zone",
            zone,
            "--status",
            "Active",
        )
    listed = json.loads(cli(ep, "nodes", "--json").stdout)
    assert [n["id"] for n in listed] == [f"obj-{i}" for i in range(5)]
    assert {n["status"] for n in listed} == {"Active"}
    cli(ep, "nodes", "set-status", "obj-4", "Draining")

    ring = json.loads(cli(ep, "ring", "--update", "--key", "objects/ab/cd", "--json").stdout)
    assert ring["topology"]["format"] == "pilothouse.hashring/v1"
    placed = ring["placement"]["objects/ab/cd"]
    assert len(placed) == 3 and "obj-4" not in placed  # Draining nodes take no new keys
    assert abs(sum(ring["ownership"].values()) - 1.0) < 1e-9
    table = cli(ep, "ring").stdout
    assert "obj-0" in table and ring["topology"]["fingerprint"] in table

    grant = json.loads(cli(ep, "lock", "acquire", "refs/heads/main", "--owner", "ci-1").stdout)
    assert grant["owner"] == "ci-1" and grant["token"] > 0
    held = cli(ep, "lock", "acquire", "refs/heads/main", "--owner", "ci-2", ok=False)
    assert held.returncode == 1
    assert "FAILED_PRECONDITION" in held.stderr and "locked by 'ci-1'" in held.stderr
    renewed = json.loads(
        cli(
            ep,
            "lock",
            "renew",
            "refs/heads/main",
            "--owner",
            "ci-1",
            "--token",
            str(grant["token"]),
        ).stdout
    )
    assert renewed["token"] == grant["token"]
    released = cli(
        ep, "lock", "release", "refs/heads/main", "--owner", "ci-1", "--token", str(grant["token"])
    )
    assert json.loads(released.stdout) == {"ref": "refs/heads/main", "released": True}

    status = json.loads(cli(ep, "status", "--json").stdout)
    assert status[0]["name"] == "r0" and status[0]["is_leader"] is True
    assert status[0]["members"] == ["r0"]


def test_bad_input_exits_2_with_the_reason(one: ControlPlaneCluster) -> None:
    ep = one.endpoints[0]
    short = cli(ep, "lock", "acquire", "refs/x", "--ttl", "1", ok=False)
    assert short.returncode == 2 and "INVALID_ARGUMENT" in short.stderr
    assert "at least 2s" in short.stderr
    missing = cli(ep, "nodes", "remove", "ghost", ok=False)
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    bad_kind = cli(ep, "nodes", "add", "x", "--kind", "Toaster", "--address", "a", ok=False)
    assert bad_kind.returncode == 2


def test_snapshot_save_and_restore_into_a_fresh_cluster(
    one: ControlPlaneCluster, tmp_path: pathlib.Path
) -> None:
    ep = one.endpoints[0]
    cli(ep, "nodes", "add", "meta-0", "--kind", "Metadata", "--address", "10.1.0.1:7001")
    path = tmp_path / "state.json"
    cli(ep, "snapshot", "save", str(path))
    saved = json.loads(path.read_text())
    assert saved["format"] == "pilothouse.controlplane.snapshot/v1"
    assert "meta-0" in {n["id"] for n in saved["nodes"]}

    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "something-else"}')
    refused = cli(ep, "snapshot", "restore", str(broken), ok=False)
    assert refused.returncode == 2 and "snapshot format" in refused.stderr
    not_fresh = cli(ep, "snapshot", "restore", str(path), ok=False)
    assert not_fresh.returncode == 1 and "already has state" in not_fresh.stderr

    with ControlPlaneCluster(tmp_path / "fresh", size=1) as fresh:
        fresh.start()
        other = fresh.endpoints[0]
        out = cli(other, "snapshot", "restore", str(path)).stdout
        assert "restored" in out
        again = tmp_path / "again.json"
        cli(other, "snapshot", "save", str(again))
        restored = json.loads(again.read_text())
        assert restored["version"] > saved["version"]
        for field in ("nodes", "hash_ring", "cluster_config", "feature_flags"):
            assert restored[field] == saved[field], field


def test_members_list_and_a_refused_removal(one: ControlPlaneCluster) -> None:
    etcd = one.etcd_endpoints[0]

    def members(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(PILOTHOUSE), "controlplane", "members", *args, "--etcd-endpoints", etcd],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode == 0) == ok, result.stderr
        return result

    listed = json.loads(members("--json").stdout)
    assert [m["name"] for m in listed] == ["r0"]
    assert "no member is called 'ghost'" in members("remove", "ghost", ok=False).stderr
    # The last member: removing it would leave no cluster at all.
    assert "the last voting member" in members("remove", "r0", ok=False).stderr
    assert [m["name"] for m in json.loads(members("--json").stdout)] == ["r0"]


def test_a_replica_scaled_away_leaves_the_cluster(tmp_path: pathlib.Path) -> None:
    with ControlPlaneCluster(tmp_path, size=3, extra_args=("--leave-on-exit",)) as cluster:
        cluster.start()
        # SIGTERM: the replica removes its member (retrying while etcd still refuses
        # membership changes in a cluster younger than 5 s), then stops.
        cluster.terminate("r2", timeout=60)
        assert "r2 left the cluster" in cluster.log_tail("r2", 200), cluster.log_tail("r2")
        status = json.loads(cli(cluster.endpoints[0], "status", "--json").stdout)
        assert status[0]["members"] == ["r0", "r1"]
        # The two left still form a cluster that takes writes.
        grant = json.loads(cli(cluster.endpoints[1], "lock", "acquire", "refs/x").stdout)
        assert grant["token"] > 0
