"""A throwaway PostgreSQL server for tests: ``initdb`` into a temporary directory, run
``postgres`` on 127.0.0.1, hand out database URLs, delete everything afterwards.

Use :func:`running_postgres` (a context manager) or :class:`PostgresServer`'s
``start``/``stop``::

    with postgres.running_postgres() as server:
        url = await server.create_database()  # a fresh, empty database
        # url == "postgresql+asyncpg://postgres@127.0.0.1:PORT/test_1"

Design choices:

- **Real binaries, no container, no system service.** The server is the distribution's
  own ``postgres`` (Debian's ``/usr/lib/postgresql/<version>/bin``, newest version first,
  else ``initdb`` on ``PATH``), started as a child process of the test run. Nothing
  outside the temporary directory is touched, and nothing is left behind: :meth:`stop`
  stops the server and deletes the directory. Missing binaries are a
  :class:`PostgresNotFound` naming the package to install, never a skipped test.
- **Root.** PostgreSQL refuses to run as root. When the test run is root, ``initdb`` and
  ``postgres`` run as the ``postgres`` system user (``subprocess.Popen(user=, group=)``),
  and the temporary directory is given to that user.
- **Only 127.0.0.1.** ``listen_addresses=127.0.0.1`` on a free port, and the Unix socket
  in the temporary directory (never ``/var/run/postgresql``, where a system server may
  live). Authentication is ``trust``: nothing but local processes can reach the server,
  and it holds only test data.
- **Fast, not durable.** ``initdb --no-sync``, ``fsync=off``, ``synchronous_commit=off``,
  ``full_page_writes=off``: a crash loses the data, which is thrown away anyway. Creating a
  database (a copy of ``template1``) then takes milliseconds, so tests get a fresh
  database each (:meth:`PostgresServer.create_database`) while the run shares one server.
- **Bounded waiting.** Start-up is "ready" when ``postmaster.pid`` says so -- the file
  ``pg_ctl -w`` polls, so no log message (which could be translated) is parsed. The
  wait polls with a deadline and fails at once if the server exits; the error carries
  the server's log. Stopping is a fast shutdown (SIGINT), then SIGKILL after a deadline.
- **The server is our child.** ``postgres`` is started directly rather than through
  ``pg_ctl start`` (which detaches it), so its exit is seen and it is signalled by its
  own process id. It gets its own session, so a Ctrl-C on the terminal reaches the test
  run, whose clean-up then stops the server, rather than the server behind its back.

Caveats: a test run killed with SIGKILL leaves the server and its directory behind
(``$TMPDIR/pilothouse-pg-*``); nothing here can clean up after that. As root, ``$TMPDIR``
(``/tmp`` by default) must be reachable by the ``postgres`` user (checked, with a clear
error).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pathlib
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import NamedTuple

import sqlalchemy
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from pilothouse import ports

__all__ = [
    "DEBIAN_GLOB",
    "HOST",
    "SUPERUSER",
    "PostgresError",
    "PostgresNotFound",
    "PostgresServer",
    "find_bin_dir",
    "running_postgres",
]

#: Where Debian installs the server binaries, one directory per major version.
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
#: The only address the server listens on.
HOST = "127.0.0.1"
#: The superuser ``initdb`` creates (whoever runs it); URLs connect as this role.
SUPERUSER = "postgres"
#: The system user the server runs as when the test run is root.
SYSTEM_USER = "postgres"

_INSTALL_HINT = "install the Debian package postgresql"
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresError(RuntimeError):
    """The server could not be set up, started or used; the message says why (with the
    server's log when there is one)."""


class PostgresNotFound(PostgresError):
    """No PostgreSQL server binaries (``initdb`` and ``postgres``) were found."""


def _version_key(bin_dir: pathlib.Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); "9.6" -> (9, 6); anything else sorts first.
    parts = bin_dir.parent.name.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (-1,)


def _has_binaries(bin_dir: pathlib.Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "postgres"))


def find_bin_dir(search: Sequence[pathlib.Path] | None = None) -> pathlib.Path:
    """The directory of ``initdb`` and ``postgres``.

    With ``search``, the first of those directories that holds both. Without, the newest
    Debian version (:data:`DEBIAN_GLOB`), else the directory of ``initdb`` on ``PATH``
    (Debian keeps it off ``PATH``; other systems do not). :class:`PostgresNotFound` when
    none has both binaries.
    """
    if search is None:
        candidates = sorted(
            (p for p in pathlib.Path("/").glob(DEBIAN_GLOB.lstrip("/")) if p.is_dir()),
            key=_version_key,
            reverse=True,
        )
        on_path = shutil.which("initdb")
        if on_path is not None:
            candidates.append(pathlib.Path(on_path).resolve().parent)
        where = f"{DEBIAN_GLOB} or PATH"
    else:
        candidates = list(search)
        where = ", ".join(str(p) for p in candidates) or "(no directory given)"
    for candidate in candidates:
        if _has_binaries(candidate):
            return candidate
    raise PostgresNotFound(
        f"PostgreSQL binaries not found (initdb and postgres in {where}): {_INSTALL_HINT}"
    )


class _RunAs(NamedTuple):
    """Who initdb and postgres run as (None: as the test run itself)."""

    user: int | None
    group: int | None
    #: Supplementary groups: the system user's own, not root's (None: unchanged).
    extra_groups: list[int] | None


def _check_reachable(base_dir: pathlib.Path) -> None:
    """PostgresError unless another user can reach ``base_dir`` (every parent searchable
    by others): the server runs as the ``postgres`` user, in a directory made by root."""
    for parent in base_dir.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise PostgresError(
                f"{parent} is not searchable by other users, so the {SYSTEM_USER!r} user "
                f"cannot reach {base_dir}: set TMPDIR to a directory it can reach (/tmp)"
            )


class PostgresServer:
    """One throwaway PostgreSQL server (see the module docstring).

    ``bin_dir`` is where ``initdb`` and ``postgres`` are (found by :func:`find_bin_dir`
    when None; the check happens in :meth:`start`). ``port`` is a free one when None.
    :meth:`start` runs ``initdb`` and the server and returns once it accepts
    connections; :meth:`stop` stops it and deletes its directory. Also a context manager
    (start on enter, stop on exit). Not thread-safe; one ``start`` per object.
    """

    def __init__(
        self,
        *,
        bin_dir: pathlib.Path | None = None,
        port: int | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.bin_dir = bin_dir
        self.fixed_port = port
        self.port = 0
        self.start_timeout = start_timeout
        #: The temporary directory (data, socket, log); None before start and after stop.
        self.base_dir: pathlib.Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    # -- addresses ----------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address the server listens on: always 127.0.0.1."""
        return HOST

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        """A SQLAlchemy URL of ``database`` as the superuser (no password: trust auth)."""
        if not self.port:
            raise PostgresError("the server is not started")
        return f"postgresql+{driver}://{SUPERUSER}@{HOST}:{self.port}/{database}"

    @property
    def data_dir(self) -> pathlib.Path:
        """The cluster's data directory (inside :attr:`base_dir`)."""
        if self.base_dir is None:
            raise PostgresError("the server is not started")
        return self.base_dir / "data"

    @property
    def log_path(self) -> pathlib.Path:
        """The server's stderr (its log), for failure messages."""
        if self.base_dir is None:
            raise PostgresError("the server is not started")
        return self.base_dir / "postgres.log"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self.proc is not None and self.proc.poll() is None

    # -- life cycle -----------------------------------------------------------------------

    def _run_as(self) -> _RunAs:
        """Popen's ``user``/``group`` arguments: the ``postgres`` system user when root."""
        if os.geteuid() != 0:
            return _RunAs(None, None, None)
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError as exc:
            raise PostgresError(
                f"running as root, and there is no {SYSTEM_USER!r} system user to run "
                f"PostgreSQL as (it refuses root): {_INSTALL_HINT}, which creates it"
            ) from exc
        return _RunAs(entry.pw_uid, entry.pw_gid, os.getgrouplist(SYSTEM_USER, entry.pw_gid))

    def _env(self) -> dict[str, str]:
        # No PG* variables of the caller's (PGDATA, PGPORT...) reach initdb or postgres;
        # C messages and locale, whatever the machine's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return env

    def start(self) -> PostgresServer:
        """initdb and start the server; return once it accepts connections.

        :class:`PostgresNotFound` without binaries; :class:`PostgresError` (with the
        log) when initdb fails or the server does not become ready within
        ``start_timeout`` seconds. On failure nothing is left running or on disk.
        """
        if self.base_dir is not None:
            raise PostgresError("the server is already started")
        bin_dir = self.bin_dir if self.bin_dir is not None else find_bin_dir()
        if not _has_binaries(bin_dir):
            find_bin_dir([bin_dir])  # raises PostgresNotFound with the message
        self.bin_dir = bin_dir
        run_as = self._run_as()
        self.base_dir = pathlib.Path(tempfile.mkdtemp(prefix="pilothouse-pg-"))
        try:
            if run_as.user is not None and run_as.group is not None:
                _check_reachable(self.base_dir)
                os.chown(self.base_dir, run_as.user, run_as.group)
            self._initdb(run_as)
            # A port taken between choosing and binding it makes postgres exit; a fixed
            # port is the caller's to keep free, so only chosen ones are retried.
            attempts = 1 if self.fixed_port is not None else 3
            for attempt in range(attempts):
                self.port = (
                    self.fixed_port if self.fixed_port is not None else ports.free_port(HOST)
                )
                if self._launch(run_as, last=attempt == attempts - 1):
                    return self
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _initdb(self, run_as: _RunAs) -> None:
        assert self.bin_dir is not None and self.base_dir is not None
        cmd = [
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",  # a throwaway cluster: no need to wait for the disk
        ]
        try:
            done = subprocess.run(
                cmd,
                cwd=self.base_dir,  # the caller's directory may be unreadable to postgres
                env=self._env(),
                capture_output=True,
                timeout=self.start_timeout,
                check=False,
                user=run_as.user,
                group=run_as.group,
                extra_groups=run_as.extra_groups,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"initdb did not finish within {self.start_timeout}s") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")
            raise PostgresError(f"initdb failed (exit {done.returncode}):\n{output}")

    def _launch(self, run_as: _RunAs, *, last: bool) -> bool:
        """Start postgres and wait until ready: True; False when it could not bind its
        port and this is not the ``last`` attempt; PostgresError otherwise."""
        assert self.bin_dir is not None and self.base_dir is not None
        cmd = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            f"unix_socket_directories={self.base_dir}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=100",
        ]
        with open(self.log_path, "ab") as log:
            # The child has its own copy of the descriptor; ours closes with the block.
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.base_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                user=run_as.user,
                group=run_as.group,
                extra_groups=run_as.extra_groups,
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._ready():
                return True
            code = self.proc.poll()
            if code is not None:
                log_text = self._log_text()
                self.proc = None
                if not last and "could not bind" in log_text:
                    return False
                raise PostgresError(
                    f"postgres exited with {code} before accepting connections; "
                    f"its log:\n{log_text}"
                )
            if time.monotonic() > deadline:
                raise PostgresError(
                    f"postgres did not accept connections within {self.start_timeout}s; "
                    f"its log:\n{self._log_text()}"
                )
            time.sleep(0.02)  # polling, bounded by the deadline above

    def _ready(self) -> bool:
        # postmaster.pid's 8th line is the server's status: "ready" once it accepts
        # connections (what pg_ctl -w waits for). Written as postgres, readable by us.
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError, UnicodeDecodeError):
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def _log_text(self, limit: int = 20000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text[-limit:]

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (fast shutdown: SIGINT; SIGKILL after ``timeout`` seconds) and
        delete its directory. Idempotent; safe after a failed :meth:`start`."""
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        base, self.base_dir = self.base_dir, None
        if base is not None:
            shutil.rmtree(base)
        self.port = 0

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases --------------------------------------------------------------------------

    async def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL (:meth:`url`).

        ``name`` defaults to the next ``test_<n>``; a given one must be a plain lower-case
        identifier (it is put into SQL). Takes milliseconds, so a database per test is
        the cheap way to keep tests apart on one server.
        """
        name = name if name is not None else f"test_{next(self._names)}"
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"not a plain lower-case database name: {name!r}")
        await self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    async def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        if not _DATABASE_NAME.fullmatch(name):
            raise ValueError(f"not a plain lower-case database name: {name!r}")
        await self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement outside a transaction (CREATE DATABASE refuses to run inside
        one) on a connection of its own."""
        engine = create_async_engine(
            self.url(database), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(sqlalchemy.text(sql))
        finally:
            await engine.dispose()


@contextlib.contextmanager
def running_postgres(
    *, bin_dir: pathlib.Path | None = None, start_timeout: float = 60.0
) -> Iterator[PostgresServer]:
    """A started :class:`PostgresServer`, stopped and deleted on exit (errors included)."""
    server = PostgresServer(bin_dir=bin_dir, start_timeout=start_timeout)
    server.start()
    try:
        yield server
    finally:
        server.stop()
