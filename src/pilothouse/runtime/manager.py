"""The manager: one process running controllers, the shared cache, webhooks, metrics and
probes, with optional leader election.

Start-up order (controller-runtime's): probe/metrics server → webhook servers → cache
informers (on every replica, so a standby is warm) → leader election → controllers (only
on the leader). Shutdown runs it backwards: controllers drain (in-flight reconciles finish
within ``graceful_shutdown_timeout``), webhooks stop, informers stop, the Lease is released
so a standby takes over at once, the HTTP server goes last.

Leader election guarantees: controllers and leader-only runnables run only while this
replica holds the Lease. When renewal fails the manager *halts* them at once -- no new
reconcile starts and in-flight ones are cancelled -- and :meth:`Manager.run` raises
:class:`LeaderElectionLost`. Like controller-runtime, the process is expected to exit and be
restarted (``pilothouse run`` exits non-zero), because a half-stopped controller that
campaigns again is where split-brain bugs live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pilothouse.api import kinds
from pilothouse.client import client as client_mod
from pilothouse.runtime import builder as builder_mod
from pilothouse.runtime import cache as cache_mod
from pilothouse.runtime import clock as clock_mod
from pilothouse.runtime import controller as controller_mod
from pilothouse.runtime import events as events_mod
from pilothouse.runtime import informer as informer_mod
from pilothouse.runtime import leader as leader_mod
from pilothouse.runtime import metrics as metrics_mod
from pilothouse.runtime import probes as probes_mod
from pilothouse.runtime import reconcile
from pilothouse.runtime import store as store_mod

if TYPE_CHECKING:
    # Webhook support is imported when first used: it brings TLS certificate handling
    # (cryptography) and pydantic review models, about 15 MB a manager without webhooks
    # should not carry.
    from pilothouse.runtime import webhookbuilder as webhookbuilder_mod
    from pilothouse.runtime.webhook import conversion as conversion_mod
    from pilothouse.runtime.webhook import server as webhook_server_mod

log = logging.getLogger("pilothouse.manager")


class LeaderElectionLost(RuntimeError):
    """This replica lost its Lease; its controllers were halted."""


class Server(Protocol):
    """What the manager needs of a webhook server."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Runnable = Callable[[], Awaitable[None]]


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass
class ManagerOptions:
    #: Restrict the cache (and so every controller) to one namespace.
    namespace: str | None = None
    leader_election: bool = False
    leader_election_id: str = "pilothouse-manager"
    #: Where the Lease lives; defaults to the client's namespace.
    leader_election_namespace: str | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=default_identity)
    #: ``host:port`` for /metrics, /healthz, /readyz; None disables the server.
    metrics_bind_address: str | None = "127.0.0.1:8080"
    #: A separate address for /healthz and /readyz (same server when equal or None).
    health_probe_bind_address: str | None = None
    graceful_shutdown_timeout: float = 30.0
    cache_sync_timeout: float = 120.0
    #: Bound memory: per-kind label selectors and metadata-only kinds (see runtime.cache).
    cache_label_selectors: dict[kinds.Kind, str] = field(default_factory=dict)
    cache_metadata_only: tuple[kinds.Kind, ...] = ()
    #: Changes every cached object before it is stored (default: drop managedFields);
    #: None caches objects whole.
    cache_transform: informer_mod.Transform | None = informer_mod.strip_managed_fields
    #: Seconds of watch silence after which an informer reconnects.
    watch_inactivity_timeout: float = 150.0
    #: The name events are reported under (``reportingController``); also names the
    #: webhook configurations the manager registers.
    event_source: str = "pilothouse"
    #: Where the webhook server listens (port 0: any free port).
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 9443
    #: Serving certificates from a directory (``tls.crt``/``tls.key``, e.g. a cert-manager
    #: Secret); None: a self-signed CA and certificate, renewed before expiry.
    webhook_cert_dir: str | None = None
    #: Register the webhook configurations and CRD conversions with the cluster (URL
    #: endpoint + caBundle): for local runs.
    webhook_register: bool = False
    #: Delete the registered configurations again on a graceful stop. Off by default, as
    #: with configurations installed by manifests: a stopped manager's webhooks then fail
    #: closed (``failurePolicy: Fail``), so a policy they enforce (a quota) cannot be
    #: bypassed by stopping the manager cleanly; the next start re-registers them. On,
    #: writes they match pass unchecked until it is back (a scratch cluster's convenience).
    webhook_unregister_on_stop: bool = False


class Manager:
    def __init__(
        self,
        client: client_mod.Client,
        options: ManagerOptions | None = None,
        *,
        clock: clock_mod.Clock | None = None,
    ) -> None:
        self.client = client
        self.options = opts = options or ManagerOptions()
        self.clock = clock
        self.metrics = metrics_mod.RuntimeMetrics()
        if client.on_request is None:
            client.on_request = self._observe_request
        self.cache = cache_mod.Cache(
            client,
            namespace=opts.namespace,
            label_selectors=opts.cache_label_selectors,
            metadata_only=opts.cache_metadata_only,
            inactivity_timeout=opts.watch_inactivity_timeout,
            on_relist=self._observe_relist,
            transform=opts.cache_transform,
        )
        self.recorder = events_mod.EventRecorder(client, opts.event_source, opts.identity)
        self.controllers: list[controller_mod.Controller] = []
        self.webhook_servers: list[Server] = []
        self._webhook_server: webhook_server_mod.WebhookServer | None = None
        self._registered: webhookbuilder_mod.Registered | None = None
        self._conversions: conversion_mod.ConversionRegistry | None = None
        self._registered_configs: list[dict[str, Any]] = []
        self._runnables: list[tuple[Runnable, bool]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._leader_tasks: list[asyncio.Task[None]] = []
        self.probes = probes_mod.ProbeServer(self.metrics.render)
        self.probes.readyz["informers"] = self._informers_synced
        self._stop = asyncio.Event()
        self._lost = False
        #: The first error of a runnable (or of starting controllers): run() raises it.
        self._failure: BaseException | None = None
        self._leading = False
        self.elector: Any = None

    # -- wiring ----------------------------------------------------------------------------

    def builder(self) -> builder_mod.ControllerBuilder:
        """Declare a controller: ``mgr.builder().for_(Kind)...complete(reconcile)``."""
        return builder_mod.ControllerBuilder(self)

    def add_controller(self, ctrl: controller_mod.Controller) -> None:
        if any(c.name == ctrl.name for c in self.controllers):
            raise builder_mod.BuilderError(
                f"a controller named {ctrl.name!r} already exists; use named() to choose another"
            )
        self.controllers.append(ctrl)

    def webhook_builder(self) -> webhookbuilder_mod.WebhookBuilder:
        """Declare webhooks: ``mgr.webhook_builder().for_(Kind).with_validator(v).complete()``."""
        from pilothouse.runtime import webhookbuilder as webhookbuilder_mod

        return webhookbuilder_mod.WebhookBuilder(self)

    @property
    def registered_webhooks(self) -> webhookbuilder_mod.Registered:
        """The webhooks this manager registers with the cluster (``webhook_register``)."""
        if self._registered is None:
            from pilothouse.runtime import webhookbuilder as webhookbuilder_mod

            self._registered = webhookbuilder_mod.Registered()
        return self._registered

    @property
    def conversions(self) -> conversion_mod.ConversionRegistry:
        """Converters for the kinds whose webhooks use ``with_conversion()``."""
        if self._conversions is None:
            from pilothouse.runtime.webhook import conversion as conversion_mod

            self._conversions = conversion_mod.ConversionRegistry()
        return self._conversions

    def webhook_server(self) -> webhook_server_mod.WebhookServer:
        """The manager's own webhook server (created on first use), whose metrics are
        exported on the manager's ``/metrics``."""
        if self._webhook_server is None:
            from pilothouse.runtime.webhook import server as webhook_server_mod

            opts = self.options
            self._webhook_server = webhook_server_mod.WebhookServer(
                opts.webhook_host,
                opts.webhook_port,
                cert_dir=opts.webhook_cert_dir,
                registry=self.metrics.registry,
            )
            self.add_webhook_server(self._webhook_server)
        return self._webhook_server

    def add_webhook_server(self, server: Server) -> None:
        self.webhook_servers.append(server)
        ready = getattr(server, "ready", None)
        if callable(ready):
            self.probes.readyz[f"webhook-{len(self.webhook_servers)}"] = ready

    def add_runnable(self, fn: Runnable, *, needs_leader: bool = True) -> None:
        """Run ``fn()`` for the manager's life (only while leading, by default)."""
        self._runnables.append((fn, needs_leader))

    def terminal_error_hook(self, kind: kinds.Kind) -> controller_mod.TerminalHook:
        """Record a Warning event on the object a reconcile gave up on."""

        def hook(req: reconcile.Request, exc: BaseException) -> None:
            obj = self.cache.informer(kind).store.get(store_mod.make_key(req.namespace, req.name))
            if obj is not None:
                self.recorder.warning(obj, "ReconcileError", "Reconcile", str(exc))

        return hook

    @property
    def webhooks_registered(self) -> bool:
        """True once the webhook configurations are registered (``webhook_register``)."""
        return bool(self._registered_configs)

    @property
    def is_leader(self) -> bool:
        return self._leading

    # -- metrics hooks ---------------------------------------------------------------------

    def _observe_request(self, method: str, code: str, seconds: float) -> None:
        self.metrics.observe_rest_request(method, self.client.host, code, seconds)

    def _observe_relist(self, kind: kinds.Kind, reason: str) -> None:
        self.metrics.observe_relist(str(kind), reason)

    def _informers_synced(self) -> bool:
        if not self.cache.synced:
            raise RuntimeError("informers not synced yet")
        return True

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until :meth:`stop` (or leadership is lost: :class:`LeaderElectionLost`)."""
        opts = self.options
        binds = _binds(opts.metrics_bind_address, opts.health_probe_bind_address)
        try:
            # Inside the try: a port in use or a webhook registration refused still shuts
            # down whatever had started.
            await self.probes.start(binds)
            for server in self.webhook_servers:
                await server.start()
            if opts.webhook_register and self._webhook_server is not None:
                await self._register_webhooks(self._webhook_server)
            self.cache.start()
            for fn, needs_leader in self._runnables:
                if not needs_leader:
                    self._spawn(fn)
            if opts.leader_election:
                self.elector = self._make_elector()
                self._spawn(self.elector.run)
            else:
                await self._start_leading_work()
            await self._stop.wait()
        finally:
            await self._shutdown()
        if self._lost:
            raise LeaderElectionLost(f"lost leadership of {opts.leader_election_id}")
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        self._stop.set()

    def _spawn(self, fn: Runnable, *, leader_only: bool = False) -> None:
        async def guarded() -> None:
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("runnable %s failed; stopping the manager", fn)
                if self._failure is None:
                    self._failure = exc
                self.stop()

        task = asyncio.create_task(guarded())
        self._tasks.append(task)
        if leader_only:
            self._leader_tasks.append(task)

    def _make_elector(self) -> Any:
        opts = self.options
        return leader_mod.LeaderElector(
            self.client,
            opts.leader_election_id,
            opts.leader_election_namespace or self.client.namespace,
            opts.identity,
            lease_duration=opts.lease_duration,
            renew_deadline=opts.renew_deadline,
            retry_period=opts.retry_period,
            release_on_cancel=True,
            on_started_leading=self._on_started_leading,
            on_stopped_leading=self._on_stopped_leading,
            metric=lambda leading: self.metrics.set_leader(opts.leader_election_id, leading),
        )

    def _on_started_leading(self) -> None:
        log.info("became leader", extra={"identity": self.options.identity})
        # Guarded: controllers that cannot start (caches that never sync) stop the manager
        # with the error logged, instead of failing unseen in a task.
        self._spawn(self._start_leading_work, leader_only=True)

    def _on_stopped_leading(self) -> None:
        if not self._leading:
            return
        self._leading = False
        log.error("leadership lost; halting controllers", extra={"identity": self.options.identity})
        self._lost = not self._stop.is_set()
        for ctrl in self.controllers:
            # Synchronously, before any other coroutine runs: no reconcile may start (or go
            # on past its next await) once the Lease may belong to someone else.
            ctrl.halt_now()
        for task in self._leader_tasks:
            task.cancel()
        for ctrl in self.controllers:
            self._tasks.append(asyncio.create_task(ctrl.halt()))
        self.stop()

    async def _start_leading_work(self) -> None:
        self._leading = True
        for fn, needs_leader in self._runnables:
            if needs_leader:
                self._spawn(fn, leader_only=True)
        await asyncio.gather(
            *(c.start(sync_timeout=self.options.cache_sync_timeout) for c in self.controllers)
        )

    async def _register_webhooks(self, server: webhook_server_mod.WebhookServer) -> None:
        from pilothouse.runtime.webhook import registration as registration_mod
        from pilothouse.runtime.webhook import selfsigned as selfsigned_mod

        reg = self.registered_webhooks
        name = self.options.event_source

        async def publish() -> None:
            endpoint = registration_mod.UrlEndpoint.of(server)
            configs = []
            if reg.validating:
                configs.append(
                    registration_mod.validating_configuration(
                        name, reg.validating, endpoint, server.ca_pem
                    )
                )
            if reg.mutating:
                configs.append(
                    registration_mod.mutating_configuration(
                        name, reg.mutating, endpoint, server.ca_pem
                    )
                )
            self._registered_configs = await registration_mod.apply_configurations(
                self.client, configs
            )
            for crd_name in reg.conversions:
                await registration_mod.patch_crd_conversion(
                    self.client, crd_name, server.ca_pem, endpoint=endpoint
                )
            log.info(
                "registered webhooks",
                extra={"configurations": len(configs), "conversions": len(reg.conversions)},
            )

        await publish()
        if isinstance(server.certificates, selfsigned_mod.SelfSignedCertificates):
            registration_mod.republish_on_rotation(server.certificates, publish)

    async def _unregister_webhooks(self) -> None:
        configs, self._registered_configs = self._registered_configs, []
        for config in configs:
            kind = await self.client.kind_for(config["apiVersion"], config["kind"])
            with contextlib.suppress(Exception):
                await self.client.delete(kind, config["metadata"]["name"])

    async def _shutdown(self) -> None:
        grace = self.options.graceful_shutdown_timeout
        await asyncio.gather(*(c.stop(grace) for c in self.controllers), return_exceptions=True)
        if self.options.webhook_unregister_on_stop:
            # Before the server stops, so no write meets a configuration pointing at it.
            await self._unregister_webhooks()
        for server in self.webhook_servers:
            with contextlib.suppress(Exception):
                await server.stop()
        await self.cache.stop()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._leading = False
        await self.recorder.close()
        await self.probes.stop()


def _binds(metrics: str | None, health: str | None) -> list[tuple[str, int]]:
    out = []
    for value in (metrics, health):
        bind = probes_mod.parse_bind(value)
        if bind is not None and bind not in out:
            out.append(bind)
    return out
