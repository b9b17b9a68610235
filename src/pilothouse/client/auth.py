"""Credentials for requests: bearer tokens (static, from a file, from an exec plugin) and basic
auth. Client certificates are not here: they live in the TLS context (:mod:`.config`).

Every provider answers :meth:`Auth.header` with the ``Authorization`` value to send, and
:meth:`Auth.invalidate` after a 401, after which the next ``header`` fetches fresh
credentials. That is how client-go copes with rotated service-account tokens and expired
exec-plugin credentials: retry once with new credentials, never loop.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os
import pathlib
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class AuthError(Exception):
    """Credentials could not be obtained (a missing token file, a failing exec plugin)."""


class Auth(Protocol):
    async def header(self) -> str | None:
        """The ``Authorization`` header value, or None to send none."""
        ...

    def invalidate(self) -> None:
        """The server answered 401: forget cached credentials."""
        ...


class NoAuth:
    async def header(self) -> str | None:
        return None

    def invalidate(self) -> None:
        return None


class StaticToken:
    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token.strip()}"

    async def header(self) -> str | None:
        return self._value

    def invalidate(self) -> None:
        return None


class BasicAuth:
    def __init__(self, username: str, password: str) -> None:
        raw = f"{username}:{password}".encode()
        self._value = "Basic " + base64.b64encode(raw).decode()

    async def header(self) -> str | None:
        return self._value

    def invalidate(self) -> None:
        return None


class TokenFile:
    """A token re-read from its file every ``refresh`` seconds and after a 401: the kubelet
    rotates projected service-account tokens in place (client-go re-reads each minute)."""

    def __init__(self, path: str | os.PathLike[str], refresh: float = 60.0) -> None:
        self._path = pathlib.Path(path)
        self._refresh = refresh
        self._value: str | None = None
        self._read_at = 0.0

    async def header(self) -> str | None:
        now = time.monotonic()
        if self._value is None or now - self._read_at > self._refresh:
            try:
                token = self._path.read_text().strip()
            except OSError as exc:
                raise AuthError(f"cannot read token file {self._path}: {exc}") from exc
            self._value, self._read_at = f"Bearer {token}", now
        return self._value

    def invalidate(self) -> None:
        self._value = None


_EXEC_API_VERSIONS = (
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
)


class ExecPlugin:
    """A credential plugin (``users[].user.exec``): runs the command, caches the token until
    its ``expirationTimestamp`` (or until a 401), and serialises concurrent refreshes so that
    a burst of requests runs the plugin once."""

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        api_version: str = "client.authentication.k8s.io/v1",
        cluster: Mapping[str, Any] | None = None,
    ) -> None:
        if api_version not in _EXEC_API_VERSIONS:
            raise AuthError(f"exec plugin apiVersion {api_version!r} is not supported")
        self._command = [command, *args]
        self._env = dict(env or {})
        self._api_version = api_version
        self._cluster = dict(cluster or {})
        self._value: str | None = None
        self._expires: float | None = None
        self._lock = asyncio.Lock()

    async def header(self) -> str | None:
        value = self._current()
        if value is not None:
            return value
        async with self._lock:
            value = self._current()
            if value is None:
                value = await self._run()
        return value

    def _current(self) -> str | None:
        """The cached header while it is more than 10 s from expiry (as client-go)."""
        if self._value is None:
            return None
        if self._expires is not None and time.time() >= self._expires - 10:
            return None
        return self._value

    def invalidate(self) -> None:
        self._value = None

    async def _run(self) -> str:
        spec: dict[str, Any] = {"interactive": False}
        if self._cluster:
            spec["cluster"] = self._cluster
        exec_info = {"apiVersion": self._api_version, "kind": "ExecCredential", "spec": spec}
        env = {**os.environ, **self._env, "KUBERNETES_EXEC_INFO": json.dumps(exec_info)}
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._command,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise AuthError(f"exec plugin {self._command[0]!r} cannot start: {exc}") from exc
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise AuthError(
                f"exec plugin {self._command[0]!r} exited {proc.returncode}: "
                f"{err.decode(errors='replace').strip()}"
            )
        try:
            status = json.loads(out)["status"]
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError(f"exec plugin {self._command[0]!r} printed no ExecCredential") from exc
        if not isinstance(status, dict):
            raise AuthError(f"exec plugin {self._command[0]!r} printed no ExecCredential status")
        token = status.get("token")
        if not token or not isinstance(token, str):
            raise AuthError(
                f"exec plugin {self._command[0]!r} returned no token "
                "(client certificates from exec plugins are not supported)"
            )
        expiry = status.get("expirationTimestamp")
        try:
            expires = _parse_time(expiry) if expiry else None
        except (TypeError, ValueError, AttributeError) as exc:
            raise AuthError(
                f"exec plugin {self._command[0]!r} returned an invalid expirationTimestamp "
                f"{expiry!r}"
            ) from exc
        self._value, self._expires = f"Bearer {token}", expires
        return self._value


def _parse_time(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
