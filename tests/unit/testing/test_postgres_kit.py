"""The throwaway PostgreSQL kit (:mod:`pilothouse.testing.postgres`): finding binaries and
saying so clearly when there are none, a server reachable on 127.0.0.1 only, and nothing
left behind -- after a clean run, an error inside the block, or a failed start."""

from __future__ import annotations

import os
import pathlib
import socket

import pytest
import sqlalchemy
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from pilothouse.testing import postgres


def test_missing_binaries_are_a_clear_error(tmp_path: pathlib.Path) -> None:
    server = postgres.PostgresServer(bin_dir=tmp_path)
    with pytest.raises(postgres.PostgresNotFound, match="install the Debian package postgresql"):
        server.start()
    assert server.base_dir is None and server.proc is None
    with pytest.raises(postgres.PostgresNotFound, match=str(tmp_path)):
        postgres.find_bin_dir([tmp_path])
    with (
        pytest.raises(postgres.PostgresNotFound, match="install the Debian package"),
        postgres.running_postgres(bin_dir=tmp_path),
    ):
        pass


def test_the_binaries_are_found() -> None:
    bin_dir = postgres.find_bin_dir()
    assert os.access(bin_dir / "initdb", os.X_OK)
    assert os.access(bin_dir / "postgres", os.X_OK)
    assert postgres.find_bin_dir([pathlib.Path("/nonexistent"), bin_dir]) == bin_dir


def test_a_url_needs_a_started_server() -> None:
    with pytest.raises(postgres.PostgresError, match="not started"):
        postgres.PostgresServer().url()


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((postgres.HOST, port)) != 0


def _listening(port: int) -> list[str]:
    """The local addresses of the TCP sockets listening on ``port`` (from /proc/net)."""
    found = []
    for table in ("tcp", "tcp6"):
        for line in pathlib.Path("/proc/net", table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # /proc/net shows addresses as host-order 32-bit words (little-endian here).
                words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
                family = socket.AF_INET if table == "tcp" else socket.AF_INET6
                found.append(socket.inet_ntop(family, b"".join(words)))
    return found


async def _scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(sqlalchemy.text(sql))
    finally:
        await engine.dispose()


async def test_a_server_on_127_0_0_1_that_leaves_nothing_behind() -> None:
    # Left by an exception, the harder case of leaving: the clean-up must still happen.
    with pytest.raises(KeyError, match="leaving"), postgres.running_postgres() as server:
        base, port, proc = server.base_dir, server.port, server.proc
        assert base is not None and proc is not None and server.running
        assert server.url() == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        assert await _scalar(server.url(), "SHOW listen_addresses") == "127.0.0.1"
        assert await _scalar(server.url(), "SHOW unix_socket_directories") == str(base)
        assert await _scalar(server.url(), "SHOW fsync") == "off"
        # What the kernel says: one listening socket on the port, bound to 127.0.0.1.
        assert _listening(port) == ["127.0.0.1"]

        # Fresh databases, one after the other; they are separate.
        first = await server.create_database()
        second = await server.create_database("named_one")
        assert first.endswith("/test_1") and second.endswith("/named_one")
        assert await _scalar(first, "SELECT current_database()") == "test_1"
        await server.execute("CREATE TABLE t (x int)", database="test_1")
        assert await _scalar(second, "SELECT to_regclass('t') IS NULL") is True
        await server.drop_database("named_one")
        assert await _scalar(server.url(), "SELECT count(*) FROM pg_database") == 4
        with pytest.raises(ValueError, match="plain lower-case"):
            await server.create_database('x"; DROP DATABASE postgres; --')
        raise KeyError("leaving")

    assert proc is not None and base is not None
    assert proc.poll() is not None
    assert not base.exists()
    assert server.base_dir is None and not server.running
    assert _refused(port)
    server.stop()  # idempotent


def test_a_failed_start_says_why_and_leaves_nothing_behind() -> None:
    # The port is taken: the server cannot bind it and exits; the error carries its log.
    with socket.socket() as taken:
        taken.bind((postgres.HOST, 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        server = postgres.PostgresServer(port=port, start_timeout=30)
        with pytest.raises(postgres.PostgresError, match="could not bind") as caught:
            server.start()
    assert "before accepting connections" in str(caught.value)
    assert server.base_dir is None and server.proc is None
