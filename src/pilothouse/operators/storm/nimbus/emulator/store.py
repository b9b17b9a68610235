"""The emulator's files: ``state.json`` and one directory per topology.

Layout of a data directory::

    state.json                        topologies, statuses, deadlines, slots, id counter
    topologies/<id>/stormjar.jar      the submitted JAR (blob <id>-stormjar.jar)
    topologies/<id>/stormcode.ser     the StormTopology, Thrift binary (blob <id>-stormcode.ser)
    inbox/                            uploads (see ``inbox``)
    leader.lock, nimbuses/            leadership (see ``leadership``)

Guarantees:

- ``state.json`` is replaced atomically (write a temporary file, fsync, rename,
  fsync the directory): a reader, or a restart after a crash, sees the old
  state or the new one, never a torn file.
- A topology's files are complete and fsynced before ``state.json`` first
  names it, and deleted only after ``state.json`` stopped naming it; ``prune``
  removes directories a crash left between those two steps.
- ``signature`` changes whenever ``state.json`` is replaced (a rename gives it
  a new inode), which is how a follower notices the leader's writes.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from collections.abc import Iterable
from typing import Any

STATE_FILE = "state.json"
JAR_FILE = "stormjar.jar"
CODE_FILE = "stormcode.ser"


def fsync_dir(path: pathlib.Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: pathlib.Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old bytes or the new ones."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Store:
    """Reads and writes one data directory's state file and topology directories."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.state_path = data_dir / STATE_FILE
        self.topologies_dir = data_dir / "topologies"

    def ensure_dirs(self) -> None:
        self.topologies_dir.mkdir(parents=True, exist_ok=True)

    # -- state.json ------------------------------------------------------------------------

    def signature(self) -> tuple[int, int, int] | None:
        """Identifies the current ``state.json`` (None when there is none yet)."""
        try:
            st = self.state_path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read_state(self) -> dict[str, Any] | None:
        try:
            text = self.state_path.read_text()
        except FileNotFoundError:
            return None
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError(f"{self.state_path} does not hold a JSON object")
        return doc

    def write_state(self, doc: dict[str, Any]) -> None:
        write_atomically(self.state_path, json.dumps(doc, indent=1, sort_keys=True).encode())

    # -- topology files ----------------------------------------------------------------------

    def topology_dir(self, topology_id: str) -> pathlib.Path:
        return self.topologies_dir / topology_id

    def jar_path(self, topology_id: str) -> pathlib.Path:
        return self.topology_dir(topology_id) / JAR_FILE

    def code_path(self, topology_id: str) -> pathlib.Path:
        return self.topology_dir(topology_id) / CODE_FILE

    def install(self, topology_id: str, jar: pathlib.Path, code: bytes) -> None:
        """Take in an uploaded (already fsynced) JAR and write the serialized topology.

        The JAR is hard-linked, not moved: as in Storm, the uploaded file stays in the
        inbox until the inbox expiry, so one upload can back several submits (which is
        what the client's JAR cache counts on). A copy is the fallback where links fail.
        """
        directory = self.topology_dir(topology_id)
        directory.mkdir(parents=True)
        try:
            try:
                os.link(jar, directory / JAR_FILE)
            except OSError:
                shutil.copyfile(jar, directory / JAR_FILE)
            write_atomically(directory / CODE_FILE, code)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        fsync_dir(self.topologies_dir)

    def read_code(self, topology_id: str) -> bytes:
        return self.code_path(topology_id).read_bytes()

    def remove(self, topology_ids: Iterable[str]) -> None:
        for topology_id in topology_ids:
            shutil.rmtree(self.topology_dir(topology_id), ignore_errors=True)

    def prune(self, live: Iterable[str]) -> list[str]:
        """Delete topology directories the state does not name; their ids."""
        keep = set(live)
        stale = [
            p.name
            for p in (self.topologies_dir.iterdir() if self.topologies_dir.exists() else [])
            if p.name not in keep
        ]
        self.remove(stale)
        return stale
