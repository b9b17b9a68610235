"""``pilothouse storm`` as a user runs it: a subprocess against a Nimbus emulator process.

One topology goes through every command (cluster, upload, submit, list, info, deactivate,
activate, rebalance, download, kill); what the commands print is checked as a script would
read it (whole ids in piped tables, one line per location and hash, progress on stderr),
and what they did is checked on the emulator with the client. Bad input must exit 2
before anything is sent (a listener that nobody may connect to checks it), and an
unreachable Nimbus must exit 1 with a message naming it.

Each CLI start costs about a second of imports, so independent commands run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import pytest

from pilothouse import ports
from pilothouse.operators.storm.nimbus import client as client_mod
from pilothouse.operators.storm.nimbus import endpoint, model
from pilothouse.testing import eventually
from pilothouse.testing import nimbus as testing_nimbus

CLI = [sys.executable, "-m", "pilothouse.cli", "storm"]
# Rich sizes output by COLUMNS when set; the tests check what a pipe gets without it.
ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "PILOTHOUSE_NIMBUS")}

TOPOLOGY_YAML = """\
name: wordcount
workers: 2
spouts:
  words:
    java: {class: org.example.WordSpout}
    outputs: {default: [word]}
bolts:
  count:
    java: {class: org.example.CountBolt}
    parallelism: 2
    tasks: 4
    inputs:
      - {component: words, grouping: fields, fields: [word]}
"""


def run_all(nimbus: str, *commands: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run ``pilothouse storm <command> --nimbus <nimbus>`` for each command, concurrently
    (a command that names its own ``--nimbus`` keeps it)."""
    procs = [
        subprocess.Popen(
            [*CLI, *command, *([] if "--nimbus" in command else ["--nimbus", nimbus])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for command in commands
    ]
    done = []
    for proc, command in zip(procs, commands, strict=True):
        with proc:
            out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess([*command], proc.returncode, out, err))
    return done


def run(nimbus: str, *command: str) -> subprocess.CompletedProcess[str]:
    [result] = run_all(nimbus, command)
    return result


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def topologies(where: endpoint.Endpoint) -> dict[str, model.TopologySummary]:
    """What Nimbus lists, asked with the client rather than another CLI start."""

    async def read() -> dict[str, model.TopologySummary]:
        async with client_mod.NimbusClient.connect([str(where)]) as c:
            return {s.name: s for s in await c.topology_summaries()}

    return asyncio.run(read())


@pytest.fixture
def emulator(tmp_path: pathlib.Path) -> Iterator[testing_nimbus.EmulatorProcess]:
    with testing_nimbus.EmulatorProcess(tmp_path / "nimbus") as proc:
        yield proc


@pytest.fixture
def files(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    topology_file = tmp_path / "topology.yaml"
    topology_file.write_text(TOPOLOGY_YAML)
    jar = tmp_path / "app.jar"
    jar.write_bytes(b"PK\x03\x04" + os.urandom(400_000))
    return topology_file, jar


def test_a_topology_through_every_command(
    emulator: testing_nimbus.EmulatorProcess,
    files: tuple[pathlib.Path, pathlib.Path],
    tmp_path: pathlib.Path,
) -> None:
    topology_file, jar = files
    nimbus = str(emulator.endpoint)
    jar_sha = hashlib.sha256(jar.read_bytes()).hexdigest()

    cluster, uploaded = run_all(nimbus, ["cluster"], ["upload", str(jar)])
    out = ok(cluster)
    assert re.search(rf"{re.escape(nimbus)}\s*│\s*yes", out), out
    assert "0 topologies; slots 0/8 used" in out
    out = ok(uploaded)
    # One line each, so that a script can cut them out.
    location = re.search(r"^location: (\S+)$", out, re.MULTILINE)
    assert location is not None, out
    assert re.search(rf"^sha256: {jar_sha}$", out, re.MULTILINE), out
    assert pathlib.Path(location.group(1)).read_bytes() == jar.read_bytes()
    assert "upload app.jar" in uploaded.stderr and "400.0/400.0 kB" in uploaded.stderr
    assert "upload app.jar" not in out  # the bar is on stderr only

    out = ok(run(nimbus, "submit", str(topology_file), str(jar), "--inactive"))
    submitted = re.search(r"^submitted wordcount as (wordcount-\S+) \(INACTIVE\)$", out, re.M)
    assert submitted is not None, out
    topology_id = submitted.group(1)

    table, as_json, info, unknown = run_all(
        nimbus, ["list"], ["list", "--json"], ["info", "wordcount"], ["info", "[/x]"]
    )
    # Piped, the table is as wide as its cells: the id is whole, not "wordcou…".
    assert re.search(rf"│ wordcount\s*│ {topology_id}\s*│ INACTIVE\s*│ 2 ", ok(table)), table
    [doc] = json.loads(ok(as_json))
    assert (doc["id"], doc["status"], doc["workers"], doc["executors"]) == (
        topology_id,
        "INACTIVE",
        2,
        3,
    )
    out = ok(info)
    assert f"wordcount {topology_id}: INACTIVE" in out
    assert len(re.findall(r"│ count\s+│", out)) == 2 and len(re.findall(r"│ words\s+│", out)) == 1
    # Rejected by Nimbus: exit 1, and a name that looks like rich markup is printed as is.
    assert unknown.returncode == 1, unknown.stderr
    assert "no topology named '[/x]'" in unknown.stderr

    assert ok(run(nimbus, "activate", "wordcount")).strip() == "activated wordcount"
    assert topologies(emulator.endpoint)["wordcount"].status == "ACTIVE"
    assert ok(run(nimbus, "deactivate", "wordcount")).strip() == "deactivated wordcount"
    assert topologies(emulator.endpoint)["wordcount"].status == "INACTIVE"

    rebalance, download = run_all(
        nimbus,
        ["rebalance", "wordcount", "--workers", "3", "-e", "count=4", "--wait-secs", "0"],
        ["download", topology_id, str(tmp_path / "back.jar")],
    )
    assert ok(rebalance).strip() == "rebalancing wordcount"

    def rebalanced() -> bool:
        s = topologies(emulator.endpoint)["wordcount"]
        return (s.status, s.num_workers, s.num_executors) == ("INACTIVE", 3, 5)

    eventually.eventually(rebalanced, timeout=10, message="rebalance applied")
    assert re.search(rf"back\.jar: 400004 bytes, sha256 {jar_sha}$", ok(download), re.M)
    assert (tmp_path / "back.jar").read_bytes() == jar.read_bytes()

    out = ok(run(nimbus, "kill", "wordcount", "--wait-secs", "0", "--wait"))
    assert out.strip() == "killed wordcount"
    assert topologies(emulator.endpoint) == {}  # --wait: gone by the time it returned


@contextlib.contextmanager
def silent_nimbus() -> Iterator[socket.socket]:
    """A listening socket nobody should connect to: the "nothing was sent" witness."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener


def connected(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_bad_input_exits_2_before_anything_is_sent_and_no_nimbus_exits_1(
    files: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path
) -> None:
    topology_file, jar = files
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text(TOPOLOGY_YAML.replace("parallelism: 2", "parallelism: [2"))
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(TOPOLOGY_YAML.replace("component: words", "component: nope"))
    missing = tmp_path / "missing.jar"
    nowhere = f"127.0.0.1:{ports.free_port()}"
    with silent_nimbus() as listener:
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        *refused, unreachable = run_all(
            address,
            ["submit", str(bad_yaml), str(jar)],
            ["submit", str(invalid), str(jar)],
            ["submit", str(topology_file), str(missing)],
            ["rebalance", "wordcount", "-e", "count=x"],
            # Last: the one command that must connect, to a port where nothing listens.
            ["cluster", "--timeout", "1", "--nimbus", nowhere],
        )
        elapsed = time.monotonic() - started
        assert not connected(listener)
    expected = [
        "bad.yaml:11:10: while parsing a flow sequence",
        "invalid.yaml: bolts.count.inputs.0.component: bolt 'count' subscribes to non-existent"
        " component 'nope'",
        f"no such JAR file: {missing}",
        "--executors count=x: the executor count must be a whole number >= 1",
    ]
    for result, message in zip(refused, expected, strict=True):
        assert result.returncode == 2, (result.args, result.stderr)
        assert message in result.stderr, (result.args, result.stderr)
        assert result.stdout == ""
    assert unreachable.returncode == 1, unreachable.stderr
    assert f"cannot connect to Nimbus {nowhere}" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr and unreachable.stdout == ""
    assert elapsed < 30  # retries back off, but a dead Nimbus is reported promptly
