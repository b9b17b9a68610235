"""A small blocking HTTP helper for tests that speak raw API requests to a
:class:`~pilothouse.testing.apiserver.ServerThread` (status codes, headers, watch lines)."""

from __future__ import annotations

import http.client
import ssl
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from pilothouse import pki
from pilothouse.testing import apiserver


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return orjson.loads(self.body)

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class RawClient:
    """Blocking requests with the cluster's token and CA."""

    def __init__(
        self,
        cluster: apiserver.ServerThread | None = None,
        *,
        token: str | None = None,
        url: str = "",
        ca_pem: bytes = b"",
    ) -> None:
        """Talk to ``cluster``, or to any server given by ``url``, ``token`` and ``ca_pem``."""
        if cluster is not None:
            url = url or cluster.url
            ca_pem = ca_pem or cluster.server.ca_pem
            token = cluster.server.token if token is None else token
        parts = urllib.parse.urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 443
        self.token = token or ""
        self.ssl: ssl.SSLContext = pki.ssl_client_context(ca_pem)

    def _conn(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.ssl, timeout=timeout)

    def _headers(self, headers: Mapping[str, str] | None, body: bytes | None) -> dict[str, str]:
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        return h

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Response:
        data = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        conn = self._conn(timeout)
        try:
            conn.request(method, path, body=data, headers=self._headers(headers, data))
            resp = conn.getresponse()
            return Response(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()

    def stream(self, path: str, timeout: float = 30.0) -> Iterator[dict[str, Any]]:
        """GET a watch URL and yield its events as they arrive."""
        conn = self._conn(timeout)
        try:
            conn.request("GET", path, headers=self._headers(None, None))
            resp = conn.getresponse()
            if resp.status != 200:
                raise AssertionError(f"watch answered {resp.status}: {resp.read()!r}")
            while True:
                line = resp.readline()
                if not line:
                    return
                if line.strip():
                    yield orjson.loads(line)
        finally:
            conn.close()
