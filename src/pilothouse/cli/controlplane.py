"""``pilothouse controlplane``: run a replica, and inspect or change a running cluster."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from pilothouse.controlplane import client as client_mod
from pilothouse.controlplane import errors, membership, peers, replica, ringmodel, statemodel

T = TypeVar("T")

app = typer.Typer(help="The GitStratum control plane.", no_args_is_help=True)
lock_app = typer.Typer(help="Ref locks with TTL and fencing tokens.", no_args_is_help=True)
snapshot_app = typer.Typer(help="Consistent JSON snapshots of the state.", no_args_is_help=True)
nodes_app = typer.Typer(help="Storage-cluster nodes.", invoke_without_command=True)
members_app = typer.Typer(
    help="The replicas' etcd members (talks to etcd's client endpoints).",
    invoke_without_command=True,
)
app.add_typer(lock_app, name="lock")
app.add_typer(snapshot_app, name="snapshot")
app.add_typer(nodes_app, name="nodes")
app.add_typer(members_app, name="members")
console = Console()
err_console = Console(stderr=True)

ENDPOINTS = typer.Option(
    "127.0.0.1:9090",
    "--endpoints",
    "-e",
    envvar="PILOTHOUSE_CONTROLPLANE",
    help="Comma-separated host:port of the replicas' gRPC APIs.",
)
AS_JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _run(endpoints: str, call: Callable[[client_mod.ControlPlaneClient], Awaitable[T]]) -> T:
    async def main() -> T:
        eps = [e.strip() for e in endpoints.split(",") if e.strip()]
        async with client_mod.ControlPlaneClient(eps) as c:
            return await call(c)

    try:
        return asyncio.run(main())
    except errors.ControlPlaneError as exc:
        err_console.print(f"[red]error ({exc.code.name}):[/] {exc}")
        raise typer.Exit(2 if isinstance(exc, errors.InvalidArgument) else 1) from exc
    except ValueError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def _print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


# -- serve ---------------------------------------------------------------------------------


@app.command()
def serve(
    name: str = typer.Option(..., "--name", help="This replica's (and its etcd member's) name."),
    data_dir: pathlib.Path = typer.Option(..., "--data-dir", help="State directory."),
    grpc_host: str = typer.Option("127.0.0.1", "--grpc-host"),
    grpc_port: int = typer.Option(9090, "--grpc-port"),
    client_port: int = typer.Option(2379, "--client-port", help="etcd client port."),
    peer_port: int = typer.Option(2380, "--peer-port", help="etcd peer port."),
    listen_host: str | None = typer.Option(
        None, "--listen-host", help="IP the etcd member listens on (default: its own host)."
    ),
    peers_spec: str = typer.Option(
        "", "--peers", help="Static peers: name=http://host:peerport,... (this one included)."
    ),
    dns_service: str = typer.Option(
        "", "--dns-service", help="Headless Service FQDN to discover StatefulSet peers by DNS."
    ),
    statefulset: str = typer.Option("", "--statefulset", help="StatefulSet name (with DNS)."),
    replicas: int = typer.Option(3, "--replicas", help="StatefulSet replicas (with DNS)."),
    join: str = typer.Option(
        "", "--join", help="etcd client endpoints of a running cluster to join."
    ),
    etcd_endpoints: str = typer.Option(
        "", "--etcd-endpoints", help="Use this etcd cluster instead of a supervised member."
    ),
    heartbeat_ms: int = typer.Option(
        replica.DEFAULT_HEARTBEAT_MS, "--heartbeat-ms", help="etcd Raft heartbeat."
    ),
    election_ms: int = typer.Option(
        replica.DEFAULT_ELECTION_MS, "--election-ms", help="etcd Raft election timeout."
    ),
    etcd_timeout: float = typer.Option(
        replica.DEFAULT_ETCD_TIMEOUT, "--etcd-timeout", help="Bound on each etcd request (s)."
    ),
    compaction_interval: float = typer.Option(60.0, "--compaction-interval"),
    keep_revisions: int = typer.Option(10_000, "--keep-revisions"),
    leave_on_exit: bool = typer.Option(
        False,
        "--leave-on-exit",
        help="On SIGTERM, remove this replica's member from the cluster first (scale-down; "
        "refused, and the replica stops anyway, when the rest would lose quorum).",
    ),
    log_level: str = typer.Option("INFO", "--log-level"),
) -> None:
    """Run one replica until SIGTERM or SIGINT: its etcd member, the gRPC API, leader
    election and compaction."""
    import logging

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    try:
        initial = peers.parse_static_peers(peers_spec) if peers_spec else {}
        if dns_service:
            if not statefulset:
                raise ValueError("--dns-service needs --statefulset")
            initial = asyncio.run(
                peers.discover_dns(
                    dns_service, statefulset=statefulset, replicas=replicas, peer_port=peer_port
                )
            )
        config = replica.ReplicaConfig(
            name=name,
            data_dir=data_dir,
            grpc_host=grpc_host,
            grpc_port=grpc_port,
            client_port=client_port,
            peer_port=peer_port,
            listen_host=listen_host,
            initial_cluster=initial,
            join=tuple(e for e in join.split(",") if e),
            etcd_endpoints=tuple(e for e in etcd_endpoints.split(",") if e),
            heartbeat_ms=heartbeat_ms,
            election_ms=election_ms,
            etcd_timeout=etcd_timeout,
            compaction_interval=compaction_interval,
            keep_revisions=keep_revisions,
        )
    except (ValueError, TimeoutError) as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        rep = replica.Replica(config)
        await rep.start()
        # A line for supervisors and tests: the replica is serving, and where.
        print(f"serving {config.name} on {config.grpc_host}:{rep.port}", flush=True)
        try:
            await stop.wait()
            if leave_on_exit:
                await rep.leave()
        finally:
            await rep.stop()

    asyncio.run(main())


# -- status and nodes ----------------------------------------------------------------------


@app.command()
def status(endpoints: str = ENDPOINTS, as_json: bool = AS_JSON) -> None:
    """Each replica's view: leader, version, etcd member and term."""
    rows: list[dict[str, Any]] = []
    for endpoint in [e.strip() for e in endpoints.split(",") if e.strip()]:

        async def one(c: client_mod.ControlPlaneClient) -> dict[str, Any]:
            try:
                s = await c.status()
            except errors.ControlPlaneError as exc:
                return {"endpoint": c.endpoint, "error": str(exc)}
            return {
                "endpoint": c.endpoint,
                "name": s.name,
                "leader": s.leader,
                "is_leader": s.is_leader,
                "version": s.version,
                "etcd_member": s.etcd_member_id,
                "etcd_leader": s.etcd_leader_id,
                "raft_term": s.raft_term,
                "members": list(s.members),
            }

        rows.append(_run(endpoint, one))
    if as_json:
        _print_json(rows)
        return
    table = Table("ENDPOINT", "NAME", "LEADER", "VERSION", "ETCD LEADER", "TERM", "MEMBERS")
    for r in rows:
        if "error" in r:
            table.add_row(r["endpoint"], "[red]unreachable[/]", r["error"], "", "", "", "")
            continue
        leader = r["leader"] + (" (this)" if r["is_leader"] else "")
        table.add_row(
            r["endpoint"],
            r["name"],
            leader,
            str(r["version"]),
            r["etcd_leader"],
            str(r["raft_term"]),
            ",".join(r["members"]),
        )
    console.print(table)


@nodes_app.callback()
def nodes(ctx: typer.Context, endpoints: str = ENDPOINTS, as_json: bool = AS_JSON) -> None:
    """List nodes (or add, remove, set-status)."""
    if ctx.invoked_subcommand is not None:
        return
    state = _run(endpoints, lambda c: c.get_cluster_state())
    if as_json:
        _print_json([state.nodes[k].to_json() for k in sorted(state.nodes)])
        return
    table = Table("ID", "KIND", "STATUS", "ADDRESS", "ZONE", "WEIGHT", "VERSION")
    for k in sorted(state.nodes):
        n = state.nodes[k]
        table.add_row(
            n.id, n.kind, n.status, n.address, n.zone, str(n.weight), str(state.node_versions[k])
        )
    console.print(table)
    console.print(f"version {state.version}")


@nodes_app.command("add")
def nodes_add(
    node_id: str,
    kind: statemodel.NodeKind = typer.Option(statemodel.NodeKind.OBJECT, "--kind"),
    address: str = typer.Option(..., "--address"),
    zone: str = typer.Option("", "--zone"),
    weight: int = typer.Option(1, "--weight"),
    status_: ringmodel.NodeStatus = typer.Option(ringmodel.NodeStatus.JOINING, "--status"),
    endpoints: str = ENDPOINTS,
) -> None:
    try:
        node = statemodel.NodeInfo(node_id, kind, address, zone, weight, status_)
    except errors.InvalidArgument as exc:
        err_console.print(f"[red]error (INVALID_ARGUMENT):[/] {exc}")
        raise typer.Exit(2) from exc
    _, version = _run(endpoints, lambda c: c.add_node(node))
    console.print(f"node {node_id} added at version {version}")


@nodes_app.command("remove")
def nodes_remove(node_id: str, endpoints: str = ENDPOINTS) -> None:
    version = _run(endpoints, lambda c: c.remove_node(node_id))
    console.print(f"node {node_id} removed at version {version}")


@nodes_app.command("set-status")
def nodes_set_status(
    node_id: str, new_status: ringmodel.NodeStatus, endpoints: str = ENDPOINTS
) -> None:
    _, version = _run(endpoints, lambda c: c.update_node_status(node_id, new_status))
    console.print(f"node {node_id} is {new_status.value} at version {version}")


# -- locks ---------------------------------------------------------------------------------

OWNER = typer.Option(
    None, "--owner", help="Lock owner (default: host:pid, unique per holder process)."
)


def _owner(owner: str | None) -> str:
    return owner or f"{os.uname().nodename}:{os.getpid()}"


def _lock_json(lock: statemodel.LockInfo) -> dict[str, Any]:
    return {**lock.to_json(), "remaining_seconds": lock.remaining_seconds}


@lock_app.command("acquire")
def lock_acquire(
    ref: str,
    owner: str | None = OWNER,
    ttl: int = typer.Option(30, "--ttl", help="Seconds."),
    endpoints: str = ENDPOINTS,
) -> None:
    """Acquire REF; prints the grant (with its fencing token) as JSON."""
    _print_json(_lock_json(_run(endpoints, lambda c: c.acquire_lock(ref, _owner(owner), ttl))))


@lock_app.command("renew")
def lock_renew(
    ref: str,
    token: int = typer.Option(..., "--token"),
    owner: str | None = OWNER,
    endpoints: str = ENDPOINTS,
) -> None:
    _print_json(_lock_json(_run(endpoints, lambda c: c.renew_lock(ref, _owner(owner), token))))


@lock_app.command("release")
def lock_release(
    ref: str,
    token: int = typer.Option(..., "--token"),
    owner: str | None = OWNER,
    endpoints: str = ENDPOINTS,
) -> None:
    released = _run(endpoints, lambda c: c.release_lock(ref, _owner(owner), token))
    _print_json({"ref": ref, "released": released})


# -- ring ----------------------------------------------------------------------------------


@app.command()
def ring(
    key: list[str] = typer.Option([], "--key", help="Show where KEY is placed (repeatable)."),
    replicas: int | None = typer.Option(None, "--replicas"),
    update: bool = typer.Option(False, "--update", help="Rebuild the ring from the nodes."),
    config: str = typer.Option("", "--config", help="Ring config JSON for --update."),
    kind: statemodel.NodeKind = typer.Option(statemodel.NodeKind.OBJECT, "--kind"),
    endpoints: str = ENDPOINTS,
    as_json: bool = AS_JSON,
) -> None:
    """Show the hash ring (nodes, ownership shares, fingerprint) and key placement."""
    from pilothouse.controlplane import ring as ring_mod

    if update:
        try:
            doc = json.loads(config) if config else None
        except json.JSONDecodeError as exc:
            err_console.print(f"[red]error:[/] --config is not JSON: {exc}")
            raise typer.Exit(2) from exc
        state = _run(endpoints, lambda c: c.update_hash_ring(doc, kind))
    else:
        state = _run(endpoints, lambda c: c.get_hash_ring())
    if state is None:
        err_console.print("no hash ring has been set (use --update)")
        raise typer.Exit(1)
    built = ring_mod.HashRing.from_topology(state.topology)
    placement = {k: [n.id for n in built.nodes_for(k, replicas)] for k in key}
    if as_json:
        _print_json(
            {
                "version": state.version,
                "node_kind": state.node_kind.value,
                "topology": state.topology,
                "ownership": built.ownership(),
                "placement": placement,
            }
        )
        return
    console.print(f"ring version {state.version}, {state.fingerprint}")
    share = built.ownership()
    table = Table("NODE", "ZONE", "WEIGHT", "STATUS", "SHARE")
    for n in built.nodes:
        table.add_row(n.id, n.zone, str(n.weight), n.status, f"{100 * share.get(n.id, 0):.2f}%")
    console.print(table)
    for k, ids in placement.items():
        console.print(f"{k} -> {', '.join(ids)}")


# -- snapshots -----------------------------------------------------------------------------


@snapshot_app.command("save")
def snapshot_save(path: pathlib.Path, endpoints: str = ENDPOINTS) -> None:
    """Write a consistent ClusterStateSnapshot (JSON) to PATH ('-' for stdout)."""
    doc = _run(endpoints, lambda c: c.save_snapshot())
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    if str(path) == "-":
        sys.stdout.write(data.decode())
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # never a half-written snapshot under the real name
    err_console.print(f"snapshot at version {doc['version']} written to {path}")


@snapshot_app.command("restore")
def snapshot_restore(path: pathlib.Path, endpoints: str = ENDPOINTS) -> None:
    """Restore PATH into a cluster that has no state yet."""
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    try:
        statemodel.parse_snapshot(data)  # fail before any network call on a bad file
    except errors.InvalidArgument as exc:
        err_console.print(f"[red]error (INVALID_ARGUMENT):[/] {path}: {exc}")
        raise typer.Exit(2) from exc
    version = _run(endpoints, lambda c: c.restore_snapshot(data))
    console.print(f"snapshot restored; the cluster is at version {version}")


# -- etcd members ------------------------------------------------------------------------

ETCD_ENDPOINTS = typer.Option(
    "127.0.0.1:2379",
    "--etcd-endpoints",
    envvar="PILOTHOUSE_ETCD_ENDPOINTS",
    help="Comma-separated host:port of etcd members' client URLs.",
)


def _etcd_run(call: Callable[[list[str]], Awaitable[T]], endpoints: str) -> T:
    eps = [e.strip() for e in endpoints.split(",") if e.strip()]

    async def main() -> T:
        return await call(eps)

    try:
        return asyncio.run(main())
    except membership.MembershipError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


@members_app.callback()
def members(
    ctx: typer.Context, etcd_endpoints: str = ETCD_ENDPOINTS, as_json: bool = AS_JSON
) -> None:
    """List the etcd members (or remove one)."""
    if ctx.invoked_subcommand is not None:
        return
    found = _etcd_run(membership.list_members, etcd_endpoints)
    rows: list[dict[str, Any]] = [
        {
            "id": f"{m.id:x}",
            "name": m.name,
            "peer_urls": list(m.peer_urls),
            "client_urls": list(m.client_urls),
            "learner": m.is_learner,
        }
        for m in found
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table("ID", "NAME", "PEER URLS", "CLIENT URLS", "LEARNER")
    for r in rows:
        table.add_row(
            r["id"],
            r["name"] or "(not started)",
            ",".join(r["peer_urls"]),
            ",".join(r["client_urls"]),
            str(r["learner"]).lower(),
        )
    console.print(table)


@members_app.command("remove")
def members_remove(name: str, etcd_endpoints: str = ETCD_ENDPOINTS) -> None:
    """Remove the member NAME (a replica being scaled away); refused when the remaining
    members would have no healthy quorum."""
    _etcd_run(lambda eps: membership.remove_member(eps, name), etcd_endpoints)
    console.print(f"member {name} removed")
