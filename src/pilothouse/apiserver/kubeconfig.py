"""Writing the kubeconfig that points kubectl and clients at the embedded API server, and the
admin bearer token it carries.

Design choices:

* The entries are named after ``context`` (default ``pilothouse``): cluster ``<context>``,
  user ``<context>-admin``, context ``<context>``. Several embedded servers can therefore
  live in one kubeconfig side by side, as kind clusters do.
* Merging follows kind/``kubectl config``: entries with our names are replaced, everything
  else (other clusters, users, contexts, preferences, extensions) is kept, and
  ``current-context`` is switched to ours. A file that is not a kubeconfig is never
  overwritten: that raises :class:`ValueError` instead of destroying the user's data.
* Writes are atomic (temporary file in the same directory, then ``rename``) with mode 0600
  because the file holds a credential. Concurrent writers take ``<path>.lock`` created
  with ``O_EXCL``, the same lock file client-go/kubectl use, so we never interleave with a
  ``kubectl config`` running at the same time.
* The token is 32 random bytes, URL-safe base64, persisted in ``<state_dir>/token`` (0600)
  so it survives restarts and existing kubeconfigs stay valid.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from pilothouse import pki

TOKEN_FILE = "token"
_LOCK_TIMEOUT = 10.0
_LOCK_POLL = 0.05


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else data


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` (client-go's kubeconfig lock convention)."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + _LOCK_TIMEOUT
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            break
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"timed out waiting for lock {lock}; remove it if no other process "
                    "is editing the kubeconfig"
                ) from None
            time.sleep(_LOCK_POLL)
    os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _replace_named(entries: Any, name: str, entry: dict[str, Any], what: str) -> list[Any]:
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise ValueError(f"invalid kubeconfig: {what} is not a list")
    kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") == name)]
    return [*kept, entry]


def _read_existing(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{path} is not a valid kubeconfig: {e}") from e
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path} is not a valid kubeconfig: top level is not a mapping")
    return doc


def build_kubeconfig(
    server_url: str,
    ca_pem: bytes | str,
    token: str,
    context: str = "pilothouse",
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The kubeconfig document: ``base`` (if any) with our three entries put in place."""
    user = f"{context}-admin"
    doc: dict[str, Any] = dict(base or {})
    doc["apiVersion"] = "v1"
    doc["kind"] = "Config"
    cluster_info: dict[str, Any] = {"server": server_url}
    if ca_pem:  # a plain-HTTP server has no CA, and an empty bundle would fail TLS clients
        cluster_info["certificate-authority-data"] = base64.b64encode(_as_bytes(ca_pem)).decode()
    cluster = {"name": context, "cluster": cluster_info}
    doc["clusters"] = _replace_named(doc.get("clusters"), context, cluster, "clusters")
    user_entry = {"name": user, "user": {"token": token}}
    doc["users"] = _replace_named(doc.get("users"), user, user_entry, "users")
    ctx = {"name": context, "context": {"cluster": context, "user": user}}
    doc["contexts"] = _replace_named(doc.get("contexts"), context, ctx, "contexts")
    doc["current-context"] = context
    doc.setdefault("preferences", {})
    return doc


def write_kubeconfig(
    path: str | os.PathLike[str],
    server_url: str,
    ca_pem: bytes | str,
    token: str,
    context: str = "pilothouse",
    merge: bool = True,
) -> Path:
    """Write (or merge into) the kubeconfig at ``path``; returns the path written."""
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(p):
        base = _read_existing(p) if merge else {}
        doc = build_kubeconfig(server_url, ca_pem, token, context, base)
        data = yaml.safe_dump(doc, default_flow_style=False, sort_keys=False).encode()
        pki.write_private(p, data, 0o600)
    return p


def load_token(state_dir: str | os.PathLike[str]) -> str:
    """The persisted admin token; raises ``FileNotFoundError`` if none was created yet."""
    token = (Path(state_dir) / TOKEN_FILE).read_text().strip()
    if not token:
        raise ValueError(f"{Path(state_dir) / TOKEN_FILE} is empty")
    return token


def ensure_token(state_dir: str | os.PathLike[str]) -> str:
    """The persisted admin token, generating and saving a new one (0600) if absent."""
    d = Path(state_dir)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = d / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        return load_token(d)
    token = secrets.token_urlsafe(32)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{TOKEN_FILE}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
            f.flush()
            os.fsync(f.fileno())
        # link() publishes the complete file atomically and fails if the name exists, so
        # when two processes race exactly one token wins and nobody reads a partial file.
        os.link(tmp, path)
    except FileExistsError:
        return load_token(d)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return token
