"""The ``pilothouse`` application."""

from __future__ import annotations

import asyncio
import contextlib
import os

import typer

from pilothouse.cli import cluster, controlplane, run, sessions, storm, storm_emulator
from pilothouse.client import config as client_config_mod
from pilothouse.operators.sessions import records
from pilothouse.runtime import logs
from pilothouse.runtime import manager as manager_mod
from pilothouse.runtime import operator as operator_mod

app = typer.Typer(
    help="Pilothouse: write and run Kubernetes operators in Python.", no_args_is_help=True
)
app.add_typer(cluster.app, name="cluster")
app.add_typer(controlplane.app, name="controlplane")
app.add_typer(storm.app, name="storm")
app.command("run")(run.run)
app.command("crds")(run.crds)
app.command("sessions-api")(sessions.sessions_api)


@app.command("up")
def up(
    port: int = typer.Option(0, "--port", help="Port to listen on (0: pick a free one)."),
    nodes: int = typer.Option(1, "--nodes", min=0, help="Simulated nodes."),
    controllers: list[str] = typer.Option(
        [],
        "--controllers",
        help="Operators to run: installed names or module:attribute (default: all installed).",
    ),
    metrics_bind_address: str = typer.Option(
        "127.0.0.1:8080", "--metrics-bind-address", help="host:port for /metrics; 0 disables."
    ),
    nimbus_port: int = typer.Option(
        6627,
        "--nimbus-port",
        min=-1,
        max=65535,
        help="Port of the local Nimbus emulator for the Storm operator (0: pick one; -1: none).",
    ),
    sessions_api_port: int = typer.Option(
        8090,
        "--sessions-api-port",
        min=-1,
        max=65535,
        help="Port of the workspace-sessions API (0: pick one; -1: none).",
    ),
) -> None:
    """Start everything locally: the embedded cluster, a Nimbus emulator, the operator
    manager on the cluster, and the sessions API."""
    logs.configure("console")
    try:
        operators = operator_mod.select(run._split(controllers))
    except operator_mod.OperatorError as exc:
        cluster.console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    from pilothouse.apiserver import server as server_mod

    if sessions_api_port >= 0:
        # The in-process manager's Session finalizer cleans the local API's records.
        os.environ.setdefault(
            records.ENV_DATABASE_URL, sessions.local_database_url(cluster.DEFAULT_STATE.parent)
        )
    config = server_mod.ServerConfig(
        state_dir=cluster.DEFAULT_STATE, host="127.0.0.1", port=port, nodes=nodes
    )
    # A local cluster: the manager registers its own webhooks (URL + caBundle), on any port.
    options = manager_mod.ManagerOptions(
        metrics_bind_address=metrics_bind_address, webhook_port=0, webhook_register=True
    )

    async def manager(server: object, stop: asyncio.Event) -> None:
        async with (
            storm_emulator.local_emulator(cluster.DEFAULT_STATE / "nimbus", nimbus_port),
            sessions.local_api(
                cluster.DEFAULT_STATE.parent, cluster.DEFAULT_KUBECONFIG, sessions_api_port
            ),
        ):
            client_config = client_config_mod.load(cluster.DEFAULT_KUBECONFIG, "pilothouse")
            names = ", ".join(op.name for op in operators) or "no operators installed"
            cluster.console.print(f"operator manager: {names}")
            await run.run_manager(client_config, operators, options, stop=stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(cluster._serve(config, cluster.DEFAULT_KUBECONFIG, manager))


def main() -> None:
    app()
