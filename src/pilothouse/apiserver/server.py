"""Running the API server: in-process for tests, in the foreground for ``pilothouse cluster up``.

:class:`APIServer` owns every moving part -- store, controllers, HTTPS listener -- and starts
in well under a second with a memory-only store, so every test can have its own cluster::

    async with APIServer(ServerConfig()) as server:
        server.write_kubeconfig(tmp_path / "kubeconfig")
        ...

With ``state_dir`` the objects, the CA, the serving certificate's key and the token persist
there, so a restarted server keeps its data, its URL's trust chain and its credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import pathlib
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from pilothouse import pki
from pilothouse.apiserver import (
    admission,
    app,
    crds,
    fieldselectors,
    gc,
    kubeconfig,
    namespaces,
    state,
    typeregistry,
)
from pilothouse.apiserver.simulation import base as sim_base
from pilothouse.apiserver.simulation import cluster as sim_cluster
from pilothouse.apiserver.store import backend as backend_mod
from pilothouse.apiserver.store import store as store_mod

log = logging.getLogger(__name__)


def _fields_fn(group_resource: str, obj: Mapping[str, Any]) -> Mapping[str, str] | None:
    # Custom resources' selectable fields are computed at match time instead (see
    # rest.reads.record_fields): they depend on CRDs that may change after a write.
    if group_resource in fieldselectors.KINDS_WITH_FIELDS:
        return fieldselectors.field_set(group_resource, obj)
    return None


DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class ServerConfig:
    """How to run the server. ``state_dir=None`` keeps everything in memory."""

    state_dir: pathlib.Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    nodes: int = 1
    simulation: bool = True
    #: Run only these simulated-cluster controllers (None: all of them); for tests.
    simulation_controllers: tuple[type[sim_base.Controller], ...] | None = None
    pod_start_delay: float = 0.0
    tls: bool = True
    auth: bool = True
    fsync: bool = False
    history_size: int = 100_000
    #: How often deleted objects' tombstones older than ``history_size`` revisions are
    #: dropped from the durable store (kube compacts etcd every 5 minutes).
    compaction_interval: float = 300.0
    bookmark_interval: float = 60.0


class APIServer:
    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.ca: pki.CertificateAuthority | None = None
        self.token = ""
        self.url = ""
        self.port = 0
        self.state: state.ServerState | None = None
        self._runner: web.AppRunner | None = None
        self._controllers: list[Any] = []
        self._compactor: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        backend: backend_mod.Backend
        if cfg.state_dir is not None:
            # Objects include Secrets: a new state directory is readable by its owner only.
            cfg.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            backend = backend_mod.SqliteBackend(cfg.state_dir / "objects.db", fsync=cfg.fsync)
        else:
            backend = backend_mod.MemoryBackend()
        types = typeregistry.TypeRegistry()
        store = store_mod.Store(backend, fields_fn=_fields_fn, history_size=cfg.history_size)
        self.token = self._token() if cfg.auth else ""
        st = state.ServerState(store=store, types=types, token=self.token)
        st.bookmark_interval = cfg.bookmark_interval
        st.admission = admission.Dispatcher(lambda which: self._webhook_configs(which))
        self.state = st
        store.load()
        self._controllers = [
            crds.CRDController(st),
            namespaces.NamespaceController(st),
            gc.GarbageCollector(st),
        ]
        if cfg.simulation:
            sim = sim_base.SimulationConfig(nodes=cfg.nodes, pod_start_delay=cfg.pod_start_delay)
            self._controllers += sim_cluster.controllers(st, sim, cfg.simulation_controllers)
        for c in self._controllers:
            c.start()
        await self._bootstrap(st)
        self._compactor = asyncio.get_running_loop().create_task(self._compact_periodically())

        ssl_ctx = self._ssl_context() if cfg.tls else None
        self._runner = web.AppRunner(
            app.build_app(st), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.port, ssl_context=ssl_ctx, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        scheme = "https" if cfg.tls else "http"
        self.url = f"{scheme}://{cfg.host}:{self.port}"

    async def _compact_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.compaction_interval)
            assert self.state is not None
            try:
                await self.state.store.compact(self.config.history_size)
            except Exception:
                log.exception("compaction failed; retrying at the next interval")

    async def stop(self) -> None:
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
            self._compactor = None
        st = self.state
        if st is not None:
            st.store.hub.close_all()
        if self._runner is not None:
            web_server = self._runner.server
            transports = [h.transport for h in (web_server.connections if web_server else ())]
            await self._runner.cleanup()
            self._runner = None
            # A TLS close waits for the peer's close_notify, which an idle keep-alive client
            # never sends: abort what is left rather than leave sockets behind.
            for transport in transports:
                if transport is not None:
                    transport.abort()
            # Closed transports finish closing in callbacks scheduled on the loop; let them
            # run so no socket outlives the server.
            for _ in range(3):
                await asyncio.sleep(0)
        for c in reversed(self._controllers):
            await c.stop()
        self._controllers = []
        if st is not None:
            if st.admission is not None:
                await st.admission.close()
            await st.store.close()
            self.state = None

    async def __aenter__(self) -> APIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- credentials -------------------------------------------------------------------

    def _token(self) -> str:
        if self.config.state_dir is not None:
            return kubeconfig.ensure_token(self.config.state_dir)
        return secrets.token_urlsafe(32)

    def _ssl_context(self) -> ssl.SSLContext:
        cfg = self.config
        hosts = sorted({cfg.host, "127.0.0.1", "localhost", "::1"})
        if cfg.state_dir is not None:
            pki_dir = cfg.state_dir / "pki"
            self.ca = pki.CertificateAuthority.load_or_generate(pki_dir, "pilothouse-ca")
        else:
            self.ca = pki.CertificateAuthority.generate("pilothouse-ca")
        # A fresh serving certificate per start: cheap, and never expires under a long run.
        cert, key = pki.issue_server_cert(
            self.ca, hosts, datetime.timedelta(days=365), common_name="pilothouse-apiserver"
        )
        return pki.ssl_server_context(cert, key)

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem if self.ca is not None else b""

    def kubeconfig(self, context: str = "pilothouse") -> dict[str, Any]:
        return kubeconfig.build_kubeconfig(self.url, self.ca_pem, self.token, context)

    def write_kubeconfig(self, path: pathlib.Path | str, *, merge: bool = True) -> pathlib.Path:
        return kubeconfig.write_kubeconfig(path, self.url, self.ca_pem, self.token, merge=merge)

    # -- internals ---------------------------------------------------------------------

    def _webhook_configs(self, which: str) -> list[dict[str, Any]]:
        st = self.state
        if st is None:
            return []
        gr = f"{which}webhookconfigurations.admissionregistration.k8s.io"
        return [r.obj() for r in st.store.iter(gr)]

    async def _bootstrap(self, st: state.ServerState) -> None:
        """The objects a fresh cluster has: the standard namespaces."""
        now = st.now()
        for name in DEFAULT_NAMESPACES:
            if st.store.get("namespaces", "", name) is None:
                await st.store.create(
                    "namespaces",
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {
                            "name": name,
                            "uid": st.new_uid(),
                            "creationTimestamp": now,
                            "labels": {"kubernetes.io/metadata.name": name},
                        },
                        "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"},
                    },
                )

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until the server's own controllers have nothing queued (for tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert self.state is not None
            await self.state.store.settle()
            if all(c.worker.idle for c in self._controllers):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("server controllers did not become idle")
            await asyncio.sleep(0.005)
