"""``pilothouse storm nimbus-emulator``: run a Nimbus emulator in the foreground.

The process prints exactly one line to stdout once it serves, flushed, for
scripts and test harnesses to wait on::

    nimbus emulator listening on 127.0.0.1:6627 (leader)
    nimbus emulator listening on 127.0.0.1:6628 (follower of 127.0.0.1:6627)

and, if a follower takes over, ``nimbus emulator promoted to leader on
HOST:PORT``. Logs go to stderr. Exit codes: 0 after SIGTERM/SIGINT (a clean
shutdown: connections closed, leader lock released), 2 for bad option values,
1 when it cannot start (another emulator leads from the data directory, the
port is taken, ``state.json`` is unreadable).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import signal
import sys
from collections.abc import AsyncIterator

import typer

from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import wire
from pilothouse.operators.storm.nimbus.emulator import config as config_mod
from pilothouse.operators.storm.nimbus.emulator import leadership, server


def _fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def _announce_promotion(srv: server.EmulatorServer) -> None:
    print(f"nimbus emulator promoted to leader on {srv.endpoint}", flush=True)


async def _serve(config: config_mod.EmulatorConfig) -> None:
    srv = server.EmulatorServer(config, on_promoted=_announce_promotion)
    await srv.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"nimbus emulator listening on {srv.endpoint} ({srv.role})", flush=True)
    try:
        await stop.wait()
    finally:
        await srv.stop()


def nimbus_emulator(
    data_dir: pathlib.Path = typer.Option(
        ..., "--data-dir", help="Where state, uploads and topology JARs persist."
    ),
    port: int = typer.Option(
        endpoint_mod.DEFAULT_PORT, "--port", help="Thrift port (0: pick a free one)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    supervisors: int = typer.Option(2, "--supervisors", help="Emulated supervisors."),
    slots_per_supervisor: int = typer.Option(
        4, "--slots-per-supervisor", help="Worker slots (ports 6700…) per supervisor."
    ),
    follower_of: str | None = typer.Option(
        None,
        "--follower-of",
        help="HOST:PORT of the leader: run as a follower that takes over when it dies.",
    ),
    max_buffer_size: int = typer.Option(
        wire.DEFAULT_MAX_FRAME,
        "--max-buffer-size",
        help="nimbus.thrift.max_buffer_size: the largest Thrift frame accepted (bytes).",
    ),
    inbox_expiration_secs: float = typer.Option(
        3600.0,
        "--inbox-expiration-secs",
        help="nimbus.inbox.jar.expiration.secs: unsubmitted JARs are deleted after this.",
    ),
    upload_expiration_secs: float = typer.Option(
        600.0,
        "--upload-expiration-secs",
        help="nimbus.file.copy.expiration.secs: idle uploads are dropped after this.",
    ),
    failover_after: float = typer.Option(
        2.0, "--failover-after", help="A follower takes over after the leader is gone this long."
    ),
    probe_interval: float = typer.Option(
        0.2, "--probe-interval", help="How often a follower probes its leader (s)."
    ),
    log_level: str = typer.Option("INFO", "--log-level", help="Log level (logs go to stderr)."),
) -> None:
    """Run a Nimbus emulator: Storm 2.x's Thrift API, for tests and local runs."""
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise _fail(f"unknown log level {log_level!r}", 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        leader = endpoint_mod.Endpoint.parse(follower_of) if follower_of is not None else None
        config = config_mod.EmulatorConfig(
            data_dir=data_dir,
            host=host,
            port=port,
            supervisors=supervisors,
            slots_per_supervisor=slots_per_supervisor,
            follower_of=leader,
            max_frame=max_buffer_size,
            upload_expiration_secs=upload_expiration_secs,
            inbox_expiration_secs=inbox_expiration_secs,
            failover_after=failover_after,
            probe_interval=probe_interval,
        ).validated()
    except ValueError as exc:
        raise _fail(str(exc), 2) from exc
    try:
        asyncio.run(_serve(config))
    except leadership.LeadershipError as exc:
        raise _fail(str(exc), 1) from exc
    except OSError as exc:
        raise _fail(f"cannot serve on {host}:{port}: {exc}", 1) from exc
    except ValueError as exc:  # an unreadable state.json: say so rather than dump a traceback
        raise _fail(f"cannot load the state in {config.data_dir}: {exc}", 1) from exc


@contextlib.asynccontextmanager
async def local_emulator(data_dir: pathlib.Path, port: int) -> AsyncIterator[None]:
    """A leader emulator for ``pilothouse up``, in the caller's event loop; ``port`` -1: none.

    A port already taken (another ``up``, a real Nimbus) is reported and ``up`` goes on
    without the emulator rather than failing the whole cluster.
    """
    if port < 0:
        yield
        return
    srv = server.EmulatorServer(config_mod.EmulatorConfig(data_dir=data_dir, port=port).validated())
    try:
        await srv.start()
    except (OSError, leadership.LeadershipError) as exc:
        sys.stderr.write(
            f"error: the Nimbus emulator cannot start on port {port}: {exc} "
            "(use --nimbus-port 0 to pick a free port, or -1 for none)\n"
        )
        yield
        return
    print(
        f"nimbus emulator: {srv.endpoint}  (pilothouse storm cluster --nimbus {srv.endpoint})",
        flush=True,
    )
    try:
        yield
    finally:
        await srv.stop()
