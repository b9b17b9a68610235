"""``pilothouse run``: run operators' controllers in one manager against any cluster, and
``pilothouse crds``: print the CRDs they serve."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any, Literal

import typer
from rich.console import Console

from pilothouse.client import client as client_mod
from pilothouse.client import config as config_mod
from pilothouse.client import errors
from pilothouse.runtime import controller as controller_mod
from pilothouse.runtime import logs
from pilothouse.runtime import manager as manager_mod
from pilothouse.runtime import operator as operator_mod

console = Console(stderr=True)
log = logging.getLogger("pilothouse.cli")


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


async def install_crds(client: client_mod.Client, operators: list[operator_mod.Operator]) -> int:
    """Server-side apply every CRD the operators serve; returns how many."""
    if not any(op.crds for op in operators):
        return 0
    from pilothouse import crd  # pydantic schema generation: only when there are CRDs

    grouped: dict[tuple[str, str], list[Any]] = {}
    for op in operators:
        for model in op.crds:
            o = model.crd_options()
            grouped.setdefault((o.group, o.kind), []).append(model)
    count = 0
    for key in sorted(grouped):
        definition = crd.definition(*grouped[key])
        await client.apply(definition, field_manager="pilothouse", force=True)
        count += 1
    if count:
        client.forget_discovery()
    return count


async def run_manager(
    config: config_mod.ClientConfig,
    operators: list[operator_mod.Operator],
    options: manager_mod.ManagerOptions,
    *,
    install: bool = True,
    stop: asyncio.Event | None = None,
) -> None:
    """Build a manager with ``operators``, run it until ``stop`` is set or SIGINT/SIGTERM."""
    client = client_mod.Client(config, user_agent="pilothouse-manager")
    try:
        if install:
            n = await install_crds(client, operators)
            if n:
                log.info("installed %d CRDs", n)
        mgr = manager_mod.Manager(client, options)
        for op in operators:
            await op.install(mgr)
            log.info("operator %s set up", op.name)
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = asyncio.create_task(mgr.run())
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
        mgr.stop()
        waiter.cancel()
        await runner
    finally:
        await client.close()


def run(
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="Kubeconfig file."),
    context: str | None = typer.Option(None, "--context", help="Kubeconfig context."),
    namespace: str | None = typer.Option(
        None, "--namespace", "-n", help="Watch only this namespace (default: all)."
    ),
    controllers: list[str] = typer.Option(
        [],
        "--controllers",
        help="Operators to run: installed names or module:attribute (default: all installed).",
    ),
    leader_elect: bool = typer.Option(
        False, "--leader-elect/--no-leader-elect", help="Hold a Lease before reconciling."
    ),
    leader_election_id: str = typer.Option("pilothouse-manager", "--leader-election-id"),
    leader_election_namespace: str | None = typer.Option(None, "--leader-election-namespace"),
    metrics_bind_address: str = typer.Option(
        "127.0.0.1:8080", "--metrics-bind-address", help="host:port for /metrics; 0 disables."
    ),
    health_probe_bind_address: str = typer.Option(
        "127.0.0.1:8081", "--health-probe-bind-address", help="host:port for /healthz, /readyz."
    ),
    webhook_port: int = typer.Option(9443, "--webhook-port", help="Webhook server port."),
    webhook_cert_dir: str | None = typer.Option(
        None,
        "--webhook-cert-dir",
        help="tls.crt/tls.key (e.g. cert-manager); default: self-signed.",
    ),
    register_webhooks: bool = typer.Option(
        False,
        "--register-webhooks/--no-register-webhooks",
        help="Register webhook configurations with a URL and caBundle (local runs).",
    ),
    unregister_webhooks: bool = typer.Option(
        False,
        "--unregister-webhooks-on-stop/--keep-webhooks-on-stop",
        help="Delete the registered webhook configurations on a clean stop. Kept by "
        "default: a stopped manager's webhooks fail closed, so their policy holds.",
    ),
    install_crds_: bool = typer.Option(
        True, "--install-crds/--no-install-crds", help="Apply the operators' CRDs first."
    ),
    log_format: str = typer.Option("console", "--log-format", help="console or json."),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run operators' controllers against a cluster (any kubeconfig, or in-cluster)."""
    fmt: Literal["json", "console"] = "json" if log_format == "json" else "console"
    logs.configure(fmt, log_level.upper())
    try:
        operators = operator_mod.select(_split(controllers))
        config = config_mod.load(kubeconfig, context)
    except (operator_mod.OperatorError, config_mod.ConfigError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if not operators:
        console.print("[yellow]no operators installed or named; running an empty manager[/]")
    options = manager_mod.ManagerOptions(
        namespace=namespace,
        leader_election=leader_elect,
        leader_election_id=leader_election_id,
        leader_election_namespace=leader_election_namespace,
        metrics_bind_address=metrics_bind_address,
        health_probe_bind_address=health_probe_bind_address,
        webhook_port=webhook_port,
        webhook_cert_dir=webhook_cert_dir,
        webhook_register=register_webhooks,
        webhook_unregister_on_stop=unregister_webhooks,
    )
    try:
        asyncio.run(run_manager(config, operators, options, install=install_crds_))
    except operator_mod.OperatorError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    except manager_mod.LeaderElectionLost as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    except errors.ApiError as exc:
        console.print(f"[red]API error:[/] {exc}")
        raise typer.Exit(1) from exc
    except controller_mod.CacheSyncTimeout as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc


def crds(
    operators: list[str] = typer.Argument(
        None, help="Operators (installed names or module:attribute); default: all installed."
    ),
) -> None:
    """Print the CustomResourceDefinitions the operators serve, as YAML."""
    try:
        selected = operator_mod.select(_split(operators or []))
    except operator_mod.OperatorError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    from pilothouse import crd

    models: list[type[crd.CustomResource]] = [m for op in selected for m in op.crds]
    print(crd.render_yaml(models), end="")
