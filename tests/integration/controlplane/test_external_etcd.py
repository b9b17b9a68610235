"""``--etcd-endpoints``: a replica on an existing etcd, supervising no member of its own."""

from __future__ import annotations

import pathlib

from pilothouse import ports
from pilothouse.controlplane import client as client_mod
from pilothouse.controlplane import replica
from pilothouse.controlplane.statemodel import NodeInfo, NodeKind


async def test_two_replicas_share_an_external_etcd(
    etcd_endpoint: str, tmp_path: pathlib.Path
) -> None:
    replicas = []
    for name, port in zip(("a", "b"), ports.free_ports(2), strict=True):
        config = replica.ReplicaConfig(
            name=name, data_dir=tmp_path / name, grpc_port=port, etcd_endpoints=(etcd_endpoint,)
        )
        rep = replica.Replica(config)
        await rep.start()
        replicas.append(rep)
    try:
        assert all(r.member is None for r in replicas)  # nothing supervised
        assert not (tmp_path / "a" / "etcd").exists()
        a, b = (f"127.0.0.1:{r.port}" for r in replicas)
        async with (
            client_mod.ControlPlaneClient([a]) as ca,
            client_mod.ControlPlaneClient([b]) as cb,
        ):
            _, version = await ca.add_node(NodeInfo("n1", NodeKind.OBJECT, "10.0.0.1:7000"))
            state = await cb.get_cluster_state()  # linearizable: sees the other's write
            assert "n1" in state.nodes and state.version >= version
            lock = await cb.acquire_lock("refs/heads/main", "b-owner", 10)
            assert lock.token > version
            status = await ca.status()
            assert status.name == "a" and status.members == ["solo"]
    finally:
        for r in replicas:
            await r.stop()
