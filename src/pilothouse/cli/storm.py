"""``pilothouse storm``: talk to Nimbus natively, and run a Nimbus emulator.

Every command takes ``--nimbus`` (comma-separated ``host:port`` seeds, or
``PILOTHOUSE_NIMBUS``); the client finds the leader among them. ``--timeout``
bounds each call (uploads and downloads: each chunk) and each connection attempt.
Exit codes: 0 done, 1 Nimbus refused or was unreachable, 2 bad input (caught
before anything is sent).

Output is for people and for scripts alike: results go to stdout, progress bars
and errors to stderr, and nothing is cut to fit: piped tables are as wide as
their cells, and lines that hold a location, an id or a hash are never wrapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import orjson
import typer
from rich import markup
from rich.console import Console
from rich.measure import Measurement
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
TIMEOUT = typer.Option(
    30.0, "--timeout", help="Per-call timeout in seconds (connecting: at most 5 s)."
)

#: The longest wait for a connection, whatever ``--timeout`` says (the pool's default).
CONNECT_TIMEOUT = 5.0


class CommandFailed(Exception):
    """The command did not do what it was asked, for a reason its message says (exit 1)."""


def _error(text: str, exc: BaseException | None = None) -> None:
    # Messages quote topology names, paths and YAML: never read them as rich markup.
    kind = f" ({type(exc).__name__})" if exc is not None else ""
    err_console.print(f"[red]error{kind}:[/] {markup.escape(text)}", soft_wrap=True)


def _say(text: str) -> None:
    """A result line: never wrapped (scripts cut locations and hashes out of it)."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def _run(nimbus: str, timeout: float, call: Callable[[client_mod.NimbusClient], Awaitable[T]]) -> T:
    async def main() -> T:
        seeds = [s.strip() for s in nimbus.split(",") if s.strip()]
        if not seeds:
            raise ValueError("--nimbus needs at least one host:port")
        async with client_mod.NimbusClient.connect(
            seeds,
            call_timeout=timeout,
            connect_timeout=min(timeout, CONNECT_TIMEOUT),
            uploads=client_mod.UploadOptions(call_timeout=timeout),
        ) as client:
            return await call(client)

    try:
        return asyncio.run(main())
    except (errors.TopologyError, ValueError, FileNotFoundError) as exc:
        _error(str(exc))
        raise typer.Exit(2) from exc
    except errors.NimbusError as exc:
        _error(str(exc), exc)
        raise typer.Exit(1) from exc
    except (CommandFailed, OSError) as exc:
        _error(str(exc) or type(exc).__name__)  # a bare TimeoutError says nothing
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


@contextlib.contextmanager
def _upload_bar(jar: pathlib.Path) -> Iterator[upload.ProgressCallback]:
    """A progress bar on stderr for uploading ``jar``, and the callback that moves it."""
    with _progress() as bar:
        task = bar.add_task(f"upload {jar.name}", total=jar.stat().st_size)

        def report(p: upload.UploadProgress) -> None:
            # An upload that is retried starts again from 0; so does the bar.
            bar.update(task, completed=p.sent, total=p.total)

        yield report


def _print_table(table: Table) -> None:
    if not console.is_terminal:
        # Piped output has no width to fit, and rich would assume 80 columns and cut names
        # and ids short (``wordcou…``): make the console as wide as the table wants.
        wide = console.options.update_width(1 << 16)
        console.width = max(console.width, Measurement.get(console, wide, table).maximum)
    console.print(table)


@app.command("upload")
def upload_cmd(
    jar: pathlib.Path = typer.Argument(..., help="The topology JAR."),
    sha256: str | None = typer.Option(None, "--sha256", help="Refuse unless the JAR has this."),
    nimbus: str = NIMBUS,
    timeout: float = TIMEOUT,
    as_json: bool = AS_JSON,
) -> None:
    """Upload a JAR to the leader Nimbus, with progress; prints where Nimbus keeps it."""
    if not jar.is_file():
        _error(f"no such JAR file: {jar}")
        raise typer.Exit(2)

    async def go(c: client_mod.NimbusClient) -> client_mod.JarUpload:
        with _upload_bar(jar) as report:
            return await c.upload_jar(jar, expected_sha256=sha256, progress=report)

    result = _run(nimbus, timeout, go)
    doc = {"location": result.location, "sha256": result.sha256, "size": result.size}
    if as_json:
        _print_json(doc | {"seconds": result.seconds})
        return
    rate = result.size / result.seconds / 1e6 if result.seconds > 0 else 0.0
    _say(f"uploaded {result.size} bytes in {result.seconds:.2f}s ({rate:.1f} MB/s)")
    _say(f"location: {result.location}")
    _say(f"sha256: {result.sha256}")


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
        _error(str(exc))
        raise typer.Exit(2) from exc
    if not jar.is_file():
        _error(f"no such JAR file: {jar}")
        raise typer.Exit(2)

    async def go(c: client_mod.NimbusClient) -> client_mod.Submitted:
        # submit_topology: if Nimbus lost the upload before the submit, it uploads once more.
        with _upload_bar(jar) as report:
            return await c.submit_topology(
                spec,
                jar,
                initial_status="INACTIVE" if inactive else "ACTIVE",
                expected_sha256=sha256,
                progress=report,
            )

    done = _run(nimbus, timeout, go)
    if as_json:
        _print_json({"id": done.id, "status": str(done.summary.status), "jar": done.jar.location})
        return
    _say(f"submitted {spec.name} as {done.id} ({done.summary.status})")


def _state_change(
    name: str,
    what: str,
    call: Callable[[client_mod.NimbusClient], Awaitable[None]],
    nimbus: str,
    timeout: float,
) -> None:
    _run(nimbus, timeout, call)
    _say(f"{what} {name}")


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
            try:
                await c.wait_for(name, lambda s: s is None, timeout=limit)
            except TimeoutError:
                raise CommandFailed(
                    f"{name} was killed but is still listed after {limit:g}s"
                ) from None

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
        counts = {k: _count(k, v) for k, v in _pairs(executors, "--executors").items()}
        overrides = {k: _json_value(v) for k, v in _pairs(config, "--config").items()}
    except ValueError as exc:
        _error(str(exc))
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


def _count(component: str, text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(
            f"--executors {component}={text}: the executor count must be a whole number >= 1"
        )
    return count


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
    _print_table(table)


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
    _say(f"{info.name} {info.id}: {info.status}, up {_duration(info.uptime_secs)}")
    if info.sched_status:
        _say(f"scheduler: {info.sched_status}")
    table = Table("COMPONENT", "TASKS", "HOST", "PORT", "UPTIME")
    for e in sorted(info.executors, key=lambda e: (e.component_id, e.task_start)):
        table.add_row(
            e.component_id,
            f"{e.task_start}-{e.task_end}",
            e.host,
            str(e.port),
            _duration(e.uptime_secs),
        )
    _print_table(table)
    for component, found in errors_doc.items():
        for err in found:
            _say(f"{component}: {err['error']}")


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
    _print_table(nimbuses)
    supervisors = Table("SUPERVISOR", "HOST", "SLOTS USED", "SLOTS TOTAL", "UPTIME")
    for s in info.supervisors:
        supervisors.add_row(
            s.supervisor_id, s.host, str(s.slots_used), str(s.slots_total), _duration(s.uptime_secs)
        )
    _print_table(supervisors)
    _say(f"{len(info.topologies)} topologies; slots {info.slots_used}/{info.slots_total} used")


@app.command("download")
def download_cmd(
    topology_id: str = typer.Argument(..., help="Topology id (see `list`)."),
    dest: pathlib.Path = typer.Argument(..., help="Where to write the JAR."),
    nimbus: str = NIMBUS,
    timeout: float = TIMEOUT,
) -> None:
    """Download a submitted topology's JAR."""
    result = _run(nimbus, timeout, lambda c: c.download_jar(topology_id, dest))
    _say(f"{result.path}: {result.size} bytes, sha256 {result.sha256}")


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
