"""The ``pilothouse`` application."""

from __future__ import annotations

import typer

from pilothouse.cli import cluster

app = typer.Typer(
    help="Pilothouse: write and run Kubernetes operators in Python.", no_args_is_help=True
)
app.add_typer(cluster.app, name="cluster")


@app.command("up")
def up(
    port: int = typer.Option(0, "--port", help="Port to listen on (0: pick a free one)."),
    nodes: int = typer.Option(1, "--nodes", min=0, help="Simulated nodes."),
) -> None:
    """Start everything Pilothouse runs locally: today, the embedded cluster."""
    cluster.up(
        state_dir=cluster.DEFAULT_STATE,
        memory=False,
        host="127.0.0.1",
        port=port,
        kubeconfig=cluster.DEFAULT_KUBECONFIG,
        nodes=nodes,
        no_simulation=False,
        pod_start_delay=0.0,
        fsync=False,
    )


def main() -> None:
    app()
