"""Nimbus emulators for tests and benchmarks: in-process, or as a real process.

- ``running_emulator(data_dir, **overrides)``: an ``EmulatorServer`` on a free
  port in the current event loop, stopped on exit. Fast; use it unless the test
  needs a process boundary. ``overrides`` are ``EmulatorConfig`` fields
  (``clock=`` for a fake clock, ``follower_of=`` for a follower…).
- ``EmulatorProcess(data_dir, *extra_args)``: ``pilothouse storm
  nimbus-emulator`` as a child process, for signals, SIGKILL and restarts. It
  picks a free port once and keeps it across restarts, so clients can
  reconnect to the same endpoint. Its stderr (the logs) goes to
  ``<data_dir>/emulator.log``; stdout is read for the start-up line.

Helpers for talking to one with a bare ``connection.Connection``:
``word_count_topology()`` builds a small valid ``StormTopology`` and
``upload_jar(conn, data)`` uploads bytes in Storm-sized chunks.

Waiting is bounded everywhere (``start(timeout)``, ``wait_for_line(timeout)``):
a stuck emulator fails the test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import IO, Any

from pilothouse import ports
from pilothouse.operators.storm.nimbus import connection, idl
from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus.emulator import config as config_mod
from pilothouse.operators.storm.nimbus.emulator import server as server_mod

LISTENING = "nimbus emulator listening on "
PROMOTED = "nimbus emulator promoted to leader on "

#: Storm's upload chunk size (``StormSubmitter``'s buffer).
STORM_CHUNK = 307200


def word_count_topology(spout_parallelism: int = 2, bolt_parallelism: int = 3) -> Any:
    """A valid two-component ``StormTopology``: spout ``words`` -> bolt ``count`` by ``word``."""
    s = idl.storm
    obj = s.ComponentObject(serialized_java=b"\xac\xed\x00\x05")
    words = s.SpoutSpec(
        spout_object=obj,
        common=s.ComponentCommon(
            inputs={},
            streams={"default": s.StreamInfo(output_fields=["word"], direct=False)},
            parallelism_hint=spout_parallelism,
        ),
    )
    count = s.Bolt(
        bolt_object=obj,
        common=s.ComponentCommon(
            inputs={
                s.GlobalStreamId(componentId="words", streamId="default"): s.Grouping(
                    fields=["word"]
                )
            },
            streams={"default": s.StreamInfo(output_fields=["word", "count"], direct=False)},
            parallelism_hint=bolt_parallelism,
        ),
    )
    return s.StormTopology(spouts={"words": words}, bolts={"count": count}, state_spouts={})


async def upload_jar(
    conn: connection.Connection,
    data: bytes,
    chunk_size: int = STORM_CHUNK,
    *,
    finish: bool = True,
    timeout: float = 30.0,
) -> str:
    """Upload ``data`` as Storm's submitter does; the location (unfinished if ``finish=False``)."""
    location: str = await conn.call("beginFileUpload", timeout)
    for start in range(0, len(data), chunk_size):
        chunk = data[start : start + chunk_size]
        await conn.call("uploadChunk", timeout, location=location, chunk=chunk)
    if finish:
        await conn.call("finishFileUpload", timeout, location=location)
    return location


@contextlib.asynccontextmanager
async def running_emulator(
    data_dir: pathlib.Path, **overrides: Any
) -> AsyncIterator[server_mod.EmulatorServer]:
    """An emulator serving from ``data_dir`` on 127.0.0.1 (port 0 unless overridden)."""
    config = config_mod.EmulatorConfig(data_dir=data_dir, **{"port": 0, **overrides})
    server = server_mod.EmulatorServer(config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class EmulatorProcess:
    """``pilothouse storm nimbus-emulator`` as a child process on a fixed free port."""

    def __init__(self, data_dir: pathlib.Path, *extra_args: str, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.port = port if port is not None else ports.free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.lines: list[str] = []
        self._buffer = b""
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> endpoint_mod.Endpoint:
        return endpoint_mod.Endpoint("127.0.0.1", self.port)

    @property
    def log_path(self) -> pathlib.Path:
        return self.data_dir / "emulator.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pilothouse.cli",
            "storm",
            "nimbus-emulator",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]

    def start(self, timeout: float = 30.0) -> EmulatorProcess:
        """Start the process and wait for its listening line; RuntimeError if it never comes."""
        if self.running:
            raise RuntimeError("the emulator is already running")
        self._cleanup()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 -- closed in _cleanup
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=self._log)
        self.lines, self._buffer = [], b""
        try:
            self.wait_for_line(LISTENING, timeout)
        except RuntimeError:
            self.kill()
            raise
        return self

    def wait_for_line(self, prefix: str, timeout: float = 30.0) -> str:
        """The first stdout line starting with ``prefix`` (already read ones included)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if line.startswith(prefix):
                    return line
            seen = len(self.lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read_stdout(remaining):
                raise RuntimeError(
                    f"the emulator did not print {prefix!r} within {timeout}s "
                    f"(stdout so far: {self.lines!r}; log: {self.log_path})"
                )

    def _read_stdout(self, timeout: float) -> bool:
        """Read what stdout has within ``timeout``; False at end of stream or timeout."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return False
        data = os.read(fd, 65536)
        if not data:
            return False
        self._buffer += data
        *complete, self._buffer = self._buffer.split(b"\n")
        self.lines += [line.decode(errors="replace") for line in complete]
        return True

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit code."""
        return self._stop(signal.SIGTERM, timeout)

    def kill(self, timeout: float = 30.0) -> int:
        """SIGKILL and wait; the exit code (negative: the signal)."""
        return self._stop(signal.SIGKILL, timeout)

    def _stop(self, sig: int, timeout: float) -> int:
        if self.proc is None:
            raise RuntimeError("the emulator was never started")
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            self._cleanup()
        return code

    def restart(self, timeout: float = 30.0) -> EmulatorProcess:
        """Start again on the same port (SIGTERM first if it still runs)."""
        if self.running:
            self.terminate()
        return self.start(timeout)

    def _cleanup(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.running:
            self.kill()
        self._cleanup()
