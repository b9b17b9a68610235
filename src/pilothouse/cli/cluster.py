"""``pilothouse cluster up``: run the embedded API server in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pathlib
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    # Imported lazily at run time: `pilothouse run` must not pay for the API server's
    # imports (about 25 MB of a manager's memory).
    from pilothouse.apiserver import server as server_mod

app = typer.Typer(help="The embedded Kubernetes API server.", no_args_is_help=True)
console = Console(stderr=True)

DEFAULT_STATE = pathlib.Path(".pilothouse/cluster")
DEFAULT_KUBECONFIG = pathlib.Path(".pilothouse/kubeconfig")


def _tune_gc() -> None:
    """A server process holds one long-lived Python object or more per stored object. With
    CPython's default thresholds the cyclic collector rescans all of them ever more often as
    the store grows (measured: creates/s fell by a third between 10k and 30k objects), though
    stored records form no cycles. Collect young objects less eagerly, and move everything
    loaded at start-up out of the collector's sight."""
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()


#: Something to run beside the server (``pilothouse up`` runs the operator manager): called
#: with the started server and the stop event, it runs until the event is set.
Companion = Callable[["server_mod.APIServer", asyncio.Event], Awaitable[None]]


async def _serve(
    config: server_mod.ServerConfig,
    kubeconfig: pathlib.Path,
    companion: Companion | None = None,
) -> None:
    started = time.perf_counter()
    from pilothouse.apiserver import server as server_mod

    server = server_mod.APIServer(config)
    await server.start()
    _tune_gc()
    path = server.write_kubeconfig(kubeconfig)
    console.print(
        f"[bold green]pilothouse API server[/] listening on [cyan]{server.url}[/] "
        f"(ready in {time.perf_counter() - started:.2f}s)"
    )
    console.print(f"kubeconfig: {path}  (context [cyan]pilothouse[/])")
    console.print(f"  export KUBECONFIG={path.resolve()}")
    if config.state_dir is not None:
        console.print(f"state: {config.state_dir.resolve()}")
    # The URL alone on stdout, for scripts.
    print(server.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if companion is None:
            await stop.wait()
        else:
            await companion(server, stop)
    finally:
        console.print("shutting down…")
        await server.stop()
        console.print("stopped")


@app.command("up")
def up(
    state_dir: pathlib.Path = typer.Option(
        DEFAULT_STATE, "--state-dir", help="Where objects, CA and token persist."
    ),
    memory: bool = typer.Option(
        False, "--memory", help="Keep everything in memory (nothing persists)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(0, "--port", help="Port to listen on (0: pick a free one)."),
    kubeconfig: pathlib.Path = typer.Option(
        DEFAULT_KUBECONFIG, "--kubeconfig", help="Kubeconfig to write (merged if it exists)."
    ),
    nodes: int = typer.Option(1, "--nodes", min=0, help="Simulated nodes."),
    no_simulation: bool = typer.Option(
        False,
        "--no-simulation",
        help="Serve the API only: no simulated controllers, scheduler or kubelets.",
    ),
    pod_start_delay: float = typer.Option(
        0.0, "--pod-start-delay", min=0.0, help="Seconds a simulated pod takes to start."
    ),
    fsync: bool = typer.Option(
        False, "--fsync", help="fsync every commit (survives power loss, not just process death)."
    ),
) -> None:
    """Run the embedded API server in the foreground until SIGINT/SIGTERM."""
    from pilothouse.apiserver import server as server_mod

    config = server_mod.ServerConfig(
        state_dir=None if memory else state_dir,
        host=host,
        port=port,
        nodes=nodes,
        simulation=not no_simulation,
        pod_start_delay=pod_start_delay,
        fsync=fsync,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(config, kubeconfig))
