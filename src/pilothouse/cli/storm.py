"""``pilothouse storm``: talk to Nimbus natively, and run a Nimbus emulator.

Every command takes ``--nimbus`` (comma-separated ``host:port`` seeds, or
``PILOTHOUSE_NIMBUS``); the client finds the leader among them. Exit codes: 0
done, 1 Nimbus refused or was unreachable, 2 bad input (caught before anything
is sent).
"""

from __future__ import annotations

import asyncio
import pathlib
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from pilothouse.cli import storm_emulator
from pilothouse.operators.storm.nimbus import client as client_mod
from pilothouse.operators.storm.nimbus import errors, model, topology, upload

T = TypeVar("T")

app = typer.Typer(
    help="Apache Storm: the native Nimbus client, and a Nimbus emulator.", no_args_is_help=True
)
app.command("nimbus-emulator")(storm_emulator.nimbus_emulator)
console = Console()
err_console = Console(stderr=True)

NIMBUS = typer.Option(
    "127.0.0.1:6627",
    "--nimbus",
    "-n",
    envvar="PILOTHOUSE_NIMBUS",
    help="Comma-separated host:port of Nimbus seeds; the leader is found among them.",
)
AS_JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
TIMEOUT = typer.Option(30.0, "--timeout", help="Per-call timeout in seconds.")


def _run(nimbus: str, timeout: float, call: Callable[[client_mod.NimbusClient], Awaitable[T]]) -> T:
    async def main() -> T:
        seeds = [s.strip() for s in nimbus.split(",") if s.strip()]
        if not seeds:
            raise ValueError("--nimbus needs at least one host:port")
        async with client_mod.NimbusClient.connect(seeds, call_timeout=timeout) as client:
            return await call(client)

    try:
        return asyncio.run(main())
    except (errors.TopologyError, ValueError, FileNotFoundError) as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    except errors.NimbusError as exc:
        err_console.print(f"[red]error ({type(exc).__name__}):[/] {exc}")
        raise typer.Exit(1) from exc


def _print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


async def _upload_with_bar(
    client: client_mod.NimbusClient, jar: pathlib.Path, expected_sha256: str | None
) -> client_mod.JarUpload:
    size = (await asyncio.to_thread(jar.stat)).st_size
    with _progress() as bar:
        task = bar.add_task(f"upload {jar.name}", total=size)

        def report(p: upload.UploadProgress) -> None:
            bar.update(task, completed=p.sent, total=p.total)

        result = await client.upload_jar(jar, expected_sha256=expected_sha256, progress=report)
        bar.update(task, completed=result.size)
    return result


@app.command("upload")
def upload_cmd(
    jar: pathlib.Path = typer.Argument(..., help="The topology JAR."),
    sha256: str | None = typer.Option(None, "--sha256", help="Refuse unless the JAR has this."),
    nimbus: str = NIMBUS,
    timeout: float = TIMEOUT,
    as_json: bool = AS_JSON,
) -> None:
    """Upload a JAR to the leader Nimbus, with progress; prints where Nimbus keeps it."""
    result = _run(nimbus, timeout, lambda c: _upload_with_bar(c, jar, sha256))
    doc = {"location": result.location, "sha256": result.sha256, "size": result.size}
    if as_json:
        _print_json(doc | {"seconds": result.seconds})
        return
    rate = result.size / result.seconds / 1e6 if result.seconds > 0 else 0.0
    console.print(f"uploaded {result.size} bytes in {result.seconds:.2f}s ({rate:.1f} MB/s)")
    console.print(f"location: {result.location}\nsha256: {result.sha256}")


@app.command("submit")
def submit_cmd(
    topology_file: pathlib.Path = typer.Argument(..., help="The topology (YAML or JSON)."),
    jar: pathlib.Path = typer.Argument(..., help="The topology JAR."),
    inactive: bool = typer.Option(False, "--inactive", help="Submit deactivated."),
    sha256: str | None = typer.Option(None, "--sha256", help="Refuse unless the JAR has this."),
    nimbus: str = NIMBUS,
    timeout: float = TIMEOUT,
    as_json: bool = AS_JSON,
) -> None:
    """Validate a topology file, upload its JAR (unless already there) and submit it."""
    try:
        spec = topology.load_topology_file(topology_file)
        spec.to_thrift()  # every validation problem, before connecting
    except (errors.TopologyError, ValueError, OSError) as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if not jar.is_file():
        err_console.print(f"[red]error:[/] no such JAR file: {jar}")
        raise typer.Exit(2)

    async def go(c: client_mod.NimbusClient) -> client_mod.Submitted:
        jar_upload = await _upload_with_bar(c, jar, sha256)
        summary = await c.submit(
            spec.name,
            jar_upload.location,
            spec.to_thrift(),
            spec.conf_json(),
            initial_status="INACTIVE" if inactive else "ACTIVE",
        )
        return client_mod.Submitted(summary, jar_upload)

    done = _run(nimbus, timeout, go)
    if as_json:
        _print_json({"id": done.id, "status": str(done.summary.status), "jar": done.jar.location})
        return
    console.print(f"submitted [bold]{spec.name}[/] as {done.id} ({done.summary.status})")


def _state_change(
    name: str,
    what: str,
    call: Callable[[client_mod.NimbusClient], Awaitable[None]],
    nimbus: str,
    timeout: float,
) -> None:
    _run(nimbus, timeout, call)
    console.print(f"{what} {name}")


@app.command("kill")
def kill_cmd(
    name: str = typer.Argument(..., help="Topology name."),
    wait_secs: int | None = typer.Option(
        None, "--wait-secs", "-w", min=0, help="Seconds between deactivation and shutdown."
    ),
    wait: bool = typer.Option(False, "--wait", help="Return only once the topology is gone."),
    nimbus: str = NIMBUS,
    timeout: float = TIMEOUT,
) -> None:
    """Kill a topology."""

    async def go(c: client_mod.NimbusClient) -> None:
        await c.kill(name, wait_secs=wait_secs)
        if wait:
            limit = (wait_secs if wait_secs is not None else 30) + timeout
            await c.wait_for(name, lambda s: s is None, timeout=limit)

    _state_change(name, "killed", go, nimbus, timeout)


@app.command("activate")
def activate_cmd(
    name: str = typer.Argument(...), nimbus: str = NIMBUS, timeout: float = TIMEOUT
) -> None:
    """Activate a topology's spouts."""
    _state_change(name, "activated", lambda c: c.activate(name), nimbus, timeout)


@app.command("deactivate")
def deactivate_cmd(
    name: str = typer.Argument(...), nimbus: str = NIMBUS, timeout: float = TIMEOUT
) -> None:
    """Deactivate a topology's spouts."""
    _state_change(name, "deactivated", lambda c: c.deactivate(name), nimbus, timeout)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} must look like name=value, not {item!r}")
        out[key] = value
    return out


@app.command("rebalance")
def rebalance_cmd(
    name: str = typer.Argument(...),
    workers: int | None = typer.Option(None, "--workers", min=1, help="New worker count."),
    executors: list[str] = typer.Option(
        [], "--executors", "-e", help="component=count, repeatable."
    ),
    config: list[str] = typer.Option(
        [], "--config", "-c", help="key=JSON value overriding topology config, repeatable."
    ),
    wait_secs: int | None = typer.Option(None, "--wait-secs", "-w", min=0),
    nimbus: str = NIMBUS,
    timeout: float = TIMEOUT,
) -> None:
    """Rebalance a topology: workers, executors per component, config overrides."""
    try:
        counts = {k: int(v) for k, v in _pairs(executors, "--executors").items()}
        overrides = {k: _json_value(v) for k, v in _pairs(config, "--config").items()}
    except ValueError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    _state_change(
        name,
        "rebalancing",
        lambda c: c.rebalance(
            name, wait_secs=wait_secs, num_workers=workers, executors=counts, config=overrides
        ),
        nimbus,
        timeout,
    )


def _json_value(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text  # a bare word is a string, as in `-c topology.debug=true` vs `-c x=abc`


@app.command("list")
def list_cmd(nimbus: str = NIMBUS, timeout: float = TIMEOUT, as_json: bool = AS_JSON) -> None:
    """Topologies: id, status, workers, executors, tasks, uptime."""
    summaries = _run(nimbus, timeout, lambda c: c.topology_summaries())
    if as_json:
        _print_json([_summary_doc(s) for s in summaries])
        return
    table = Table("NAME", "ID", "STATUS", "WORKERS", "EXECUTORS", "TASKS", "UPTIME", "SCHEDULER")
    for s in sorted(summaries, key=lambda s: s.name):
        table.add_row(
            s.name,
            s.id,
            str(s.status),
            str(s.num_workers),
            str(s.num_executors),
            str(s.num_tasks),
            _duration(s.uptime_secs),
            s.sched_status or "",
        )
    console.print(table)


def _summary_doc(s: model.TopologySummary) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "status": str(s.status),
        "workers": s.num_workers,
        "executors": s.num_executors,
        "tasks": s.num_tasks,
        "uptime_secs": s.uptime_secs,
        "sched_status": s.sched_status,
    }


@app.command("info")
def info_cmd(
    name: str = typer.Argument(..., help="Topology name."),
    nimbus: str = NIMBUS,
    timeout: float = TIMEOUT,
    as_json: bool = AS_JSON,
) -> None:
    """A topology's status, executors (where they run) and recent errors."""
    info = _run(nimbus, timeout, lambda c: c.topology_info_by_name(name))
    executors = [
        {
            "component": e.component_id,
            "host": e.host,
            "port": e.port,
            "tasks": [e.task_start, e.task_end],
            "uptime_secs": e.uptime_secs,
        }
        for e in info.executors
    ]
    errors_doc = {
        c: [{"error": e.error, "time": e.error_time_secs} for e in errs]
        for c, errs in info.errors.items()
        if errs
    }
    if as_json:
        _print_json(
            {
                "id": info.id,
                "name": info.name,
                "status": str(info.status),
                "uptime_secs": info.uptime_secs,
                "sched_status": info.sched_status,
                "executors": executors,
                "errors": errors_doc,
            }
        )
        return
    console.print(
        f"[bold]{info.name}[/] {info.id}: {info.status}, up {_duration(info.uptime_secs)}"
    )
    if info.sched_status:
        console.print(f"scheduler: {info.sched_status}")
    table = Table("COMPONENT", "TASKS", "HOST", "PORT", "UPTIME")
    for e in sorted(info.executors, key=lambda e: (e.component_id, e.task_start)):
        table.add_row(
            e.component_id,
            f"{e.task_start}-{e.task_end}",
            e.host,
            str(e.port),
            _duration(e.uptime_secs),
        )
    console.print(table)
    for component, found in errors_doc.items():
        for err in found:
            console.print(f"[red]{component}:[/] {err['error']}")


@app.command("cluster")
def cluster_cmd(nimbus: str = NIMBUS, timeout: float = TIMEOUT, as_json: bool = AS_JSON) -> None:
    """Nimbuses (which one leads) and supervisors with used and total slots."""
    info = _run(nimbus, timeout, lambda c: c.cluster_info())
    if as_json:
        _print_json(
            {
                "nimbuses": [
                    {
                        "address": n.endpoint,
                        "leader": n.is_leader,
                        "version": n.version,
                        "uptime_secs": n.uptime_secs,
                    }
                    for n in info.nimbuses
                ],
                "supervisors": [
                    {
                        "id": s.supervisor_id,
                        "host": s.host,
                        "slots_used": s.slots_used,
                        "slots_total": s.slots_total,
                    }
                    for s in info.supervisors
                ],
                "topologies": len(info.topologies),
            }
        )
        return
    nimbuses = Table("NIMBUS", "LEADER", "VERSION", "UPTIME")
    for n in info.nimbuses:
        nimbuses.add_row(
            n.endpoint, "yes" if n.is_leader else "", n.version, _duration(n.uptime_secs)
        )
    console.print(nimbuses)
    supervisors = Table("SUPERVISOR", "HOST", "SLOTS USED", "SLOTS TOTAL", "UPTIME")
    for s in info.supervisors:
        supervisors.add_row(
            s.supervisor_id, s.host, str(s.slots_used), str(s.slots_total), _duration(s.uptime_secs)
        )
    console.print(supervisors)
    console.print(
        f"{len(info.topologies)} topologies; slots {info.slots_used}/{info.slots_total} used"
    )


@app.command("download")
def download_cmd(
    topology_id: str = typer.Argument(..., help="Topology id (see `list`)."),
    dest: pathlib.Path = typer.Argument(..., help="Where to write the JAR."),
    nimbus: str = NIMBUS,
    timeout: float = TIMEOUT,
) -> None:
    """Download a submitted topology's JAR."""
    result = _run(nimbus, timeout, lambda c: c.download_jar(topology_id, dest))
    console.print(f"{result.path}: {result.size} bytes, sha256 {result.sha256}")


def _duration(seconds: int) -> str:
    minutes, secs = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
