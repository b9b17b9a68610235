"""``NimbusClient``: every topology operation, over a pool that follows the leader.

This is the entry point for the Storm controllers and for ``pilothouse storm``.
Each method is one operation, typed in and out (``model`` views, never raw
Thrift structs), and raises the typed errors of ``errors``.

Safety contract for retries (the pool does the retrying, ``pool`` documents it):

- Reads are idempotent: retried on any transient failure, on any Nimbus.
- ``activate`` and ``deactivate`` set a state, so repeating them is harmless:
  retried like reads, on the leader.
- ``submit``, ``kill`` and ``rebalance`` are not safe to repeat blindly: after a
  failure that leaves open whether Nimbus ran one, the client asks Nimbus what
  happened before making it again (``checked`` has the rules and the caveats).
- JARs (``upload_jar``, ``download_jar``, ``submit_topology``) are delegated to
  ``jars``, which documents their rules: an upload attempt always starts a fresh
  upload location, so a failed upload is retried from the start (Nimbus expires
  the abandoned one), and uploads are cached per leader.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pilothouse.operators.storm.nimbus import (
    checked,
    download,
    endpoint,
    errors,
    idl,
    jarcache,
    jars,
    model,
    pool,
    topology,
    upload,
)

# The JAR types live with the JAR flows (``jars``); these names keep them reachable here.
UploadOptions = jars.UploadOptions
JarUpload = jars.JarUpload
Submitted = jars.Submitted


class NimbusClient:
    """All Nimbus operations for one Storm cluster.

    Build one with ``NimbusClient.connect(["nimbus-0:6627", "nimbus-1:6627"])`` (it then
    owns its pool and closes it), or around a shared ``pool.NimbusPool``. Use it as an
    async context manager or call ``close()``.
    """

    def __init__(
        self,
        nimbus_pool: pool.NimbusPool,
        *,
        cluster: str = "default",
        jar_cache: jarcache.JarCache | None = None,
        uploads: UploadOptions | None = None,
        owns_pool: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = nimbus_pool
        # Read-only after construction: ``jars`` works with these same objects.
        self.cluster = cluster
        self.jar_cache = jar_cache if jar_cache is not None else jarcache.JarCache()
        self.uploads = uploads or UploadOptions()
        self.jars = jars.JarTransfers(
            nimbus_pool, self.jar_cache, cluster=cluster, options=self.uploads
        )
        self._owns_cache = jar_cache is None
        self._owns_pool = owns_pool
        self._clock = clock

    @classmethod
    def connect(
        cls,
        seeds: Sequence[str | endpoint.Endpoint],
        *,
        cluster: str = "default",
        jar_cache: jarcache.JarCache | None = None,
        uploads: UploadOptions | None = None,
        **pool_options: Any,
    ) -> NimbusClient:
        """A client with its own pool over ``seeds`` (``host:port``); ``pool_options``
        are ``pool.PoolConfig`` fields (timeouts, retry, breaker…)."""
        parsed = tuple(
            s if isinstance(s, endpoint.Endpoint) else endpoint.Endpoint.parse(s) for s in seeds
        )
        config = pool.PoolConfig(seeds=parsed, **pool_options)
        return cls(
            pool.NimbusPool(config),
            cluster=cluster,
            jar_cache=jar_cache,
            uploads=uploads,
            owns_pool=True,
        )

    async def __aenter__(self) -> NimbusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pool and the JAR cache if this client made them."""
        if self._owns_cache:
            await self.jar_cache.aclose()
        if self._owns_pool:
            await self.pool.close()

    # -- reads ----------------------------------------------------------------------------

    async def _read(self, method: str, **args: Any) -> Any:
        return await self.pool.call(method, leader=False, idempotent=True, **args)

    async def leader(self) -> model.NimbusSummary:
        """The leader Nimbus, as it describes itself."""
        return model.NimbusSummary.from_thrift(await self._read("getLeader"))

    async def cluster_info(self) -> model.ClusterInfo:
        """Supervisors (with used and total slots), topologies, and nimbuses (leader flag)."""
        return model.ClusterInfo.from_thrift(await self._read("getClusterInfo"))

    async def nimbus_conf(self) -> dict[str, Any]:
        """Nimbus's effective configuration."""
        return _json_object(await self._read("getNimbusConf"), "Nimbus configuration")

    async def topology_summaries(self) -> list[model.TopologySummary]:
        """Every topology Nimbus knows, killed ones still waiting for removal included."""
        found = await self._read("getTopologySummaries")
        return [model.TopologySummary.from_thrift(s) for s in found or []]

    async def topology_summary_by_name(self, name: str) -> model.TopologySummary | None:
        """The topology called ``name``, or None when there is none.

        ``getTopologySummaryByName`` declares no "not alive" exception, so Nimbus reports
        an unknown name as an application error; the summaries are consulted to tell that
        apart from a real failure.
        """
        try:
            found = await self._read("getTopologySummaryByName", name=name)
        except errors.ApplicationError:
            for summary in await self.topology_summaries():
                if summary.name == name:
                    return summary
            return None
        return model.TopologySummary.from_thrift(found)

    async def _require(self, name: str) -> model.TopologySummary:
        summary = await self.topology_summary_by_name(name)
        if summary is None:
            raise errors.NotAliveError(f"no topology named {name!r} on this cluster")
        return summary

    async def topology_info(self, topology_id: str) -> model.TopologyInfo:
        """Executors, errors and status of a topology by id."""
        return model.TopologyInfo.from_thrift(await self._read("getTopologyInfo", id=topology_id))

    async def topology_info_by_name(self, name: str) -> model.TopologyInfo:
        """``topology_info`` for the topology called ``name``."""
        return await self.topology_info((await self._require(name)).id)

    async def topology_conf(self, topology_id: str) -> dict[str, Any]:
        """The effective configuration of a topology by id."""
        raw = await self._read("getTopologyConf", id=topology_id)
        return _json_object(raw, f"configuration of {topology_id}")

    async def user_topology(self, topology_id: str) -> Any:
        """The ``StormTopology`` struct as it was submitted."""
        return await self._read("getUserTopology", id=topology_id)

    async def supervisor_page_info(
        self, supervisor_id: str = "", host: str = "", *, include_system: bool = False
    ) -> model.SupervisorPageInfo:
        """A supervisor (by id, or every supervisor on ``host``) and its workers."""
        if not supervisor_id and not host:
            raise ValueError("give a supervisor id or a host")
        found = await self._read(
            "getSupervisorPageInfo", id=supervisor_id, host=host, is_include_sys=include_system
        )
        return model.SupervisorPageInfo.from_thrift(found)

    async def is_topology_name_allowed(self, name: str) -> bool:
        """Whether Nimbus would accept a new topology called ``name`` now."""
        return bool(await self._read("isTopologyNameAllowed", name=name))

    # -- state changes ----------------------------------------------------------------------

    async def activate(self, name: str) -> None:
        """Resume emitting from the spouts. Repeating it is harmless, so it is retried."""
        await self.pool.call("activate", leader=True, idempotent=True, name=name)

    async def deactivate(self, name: str) -> None:
        """Stop the spouts emitting. Repeating it is harmless, so it is retried."""
        await self.pool.call("deactivate", leader=True, idempotent=True, name=name)

    async def kill(self, name: str, *, wait_secs: int | None = None) -> None:
        """Kill a topology: deactivated now, removed after ``wait_secs`` (Nimbus's default
        is ``topology.message.timeout.secs``). A topology already killed counts as done
        only when this call's earlier attempt may have killed it."""
        options = idl.storm.KillOptions(wait_secs=wait_secs)
        await self._checked(
            lambda: self.pool.call(
                "killTopologyWithOpts", leader=True, idempotent=False, name=name, options=options
            ),
            checked.killed(self.topology_summary_by_name, name),
        )

    async def rebalance(
        self,
        name: str,
        *,
        wait_secs: int | None = None,
        num_workers: int | None = None,
        executors: Mapping[str, int] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        """Redistribute a topology: new worker count, per-component executor counts and
        config overrides, after ``wait_secs``."""
        if num_workers is not None and num_workers < 1:
            raise ValueError("num_workers must be at least 1")
        for component, count in (executors or {}).items():
            if count < 1:
                raise ValueError(f"executors of {component!r} must be at least 1")
        options = idl.storm.RebalanceOptions(
            wait_secs=wait_secs,
            num_workers=num_workers,
            num_executors=dict(executors) if executors else None,
            topology_conf_overrides=json.dumps(dict(config)) if config else None,
        )
        await self._checked(
            lambda: self.pool.call(
                "rebalance", leader=True, idempotent=False, name=name, options=options
            ),
            checked.rebalancing(self.topology_summary_by_name, name),
        )

    async def submit(
        self,
        name: str,
        jar_location: str,
        topology_struct: Any,
        conf: Mapping[str, Any] | str,
        *,
        initial_status: str = "ACTIVE",
    ) -> model.TopologySummary:
        """Submit a topology whose JAR is already uploaded; its summary once Nimbus has it.

        ``conf`` is the topology configuration (a mapping, or its JSON). ``initial_status``
        is ``ACTIVE`` or ``INACTIVE``.
        """
        status = _initial_status(initial_status)
        conf_json = conf if isinstance(conf, str) else json.dumps(dict(conf))
        options = idl.storm.SubmitOptions(initial_status=status)
        done = checked.submitted(self.topology_summary_by_name, name, self._clock)

        async def call() -> None:
            await self.pool.call(
                "submitTopologyWithOpts",
                leader=True,
                idempotent=False,
                name=name,
                uploadedJarLocation=jar_location,
                jsonConf=conf_json,
                topology=topology_struct,
                options=options,
            )

        await self._checked(checked.repeatable_submit(call, done), done)
        summary = await self.topology_summary_by_name(name)
        if summary is None:
            raise errors.NotAliveError(f"topology {name!r} was submitted but is not listed")
        return summary

    async def _checked(self, call: checked.Call, done: checked.Done) -> None:
        await checked.run(call, done, self.pool.config.retry, self.pool.rng)

    # -- JARs (``jars`` has the rules) ----------------------------------------------------

    async def upload_jar(
        self,
        path: str | pathlib.Path,
        *,
        expected_sha256: str | None = None,
        progress: upload.ProgressCallback | None = None,
        use_cache: bool = True,
    ) -> JarUpload:
        """Upload a JAR to the leader, unless this leader already has it (by sha256)."""
        return await self.jars.upload_jar(
            path, expected_sha256=expected_sha256, progress=progress, use_cache=use_cache
        )

    async def download_jar(
        self,
        topology_id: str,
        dest: str | pathlib.Path,
        *,
        expected_sha256: str | None = None,
        progress: upload.ProgressCallback | None = None,
    ) -> download.DownloadResult:
        """Download the JAR of a submitted topology (the ``<id>-stormjar.jar`` blob)."""
        return await self.jars.download_jar(
            topology_id, dest, expected_sha256=expected_sha256, progress=progress
        )

    async def submit_topology(
        self,
        spec: topology.TopologySpec,
        jar: str | pathlib.Path,
        *,
        initial_status: str = "ACTIVE",
        expected_sha256: str | None = None,
        progress: upload.ProgressCallback | None = None,
    ) -> Submitted:
        """Validate ``spec`` (nothing is sent if it is invalid), upload ``jar`` (or reuse
        the cached upload, uploading again once if Nimbus no longer has it) and submit."""
        _initial_status(initial_status)  # a bad status is refused before the upload too

        async def submit_at(location: str, struct: Any, conf: str) -> model.TopologySummary:
            return await self.submit(
                spec.name, location, struct, conf, initial_status=initial_status
            )

        return await self.jars.submit_topology(
            spec, jar, submit_at, expected_sha256=expected_sha256, progress=progress
        )

    async def wait_for(
        self,
        name: str,
        predicate: Callable[[model.TopologySummary | None], bool],
        *,
        timeout: float,
        interval: float = 0.5,
    ) -> model.TopologySummary | None:
        """Poll the topology called ``name`` until ``predicate`` holds; TimeoutError after
        ``timeout`` s. For the CLI's ``--wait``; controllers requeue instead."""
        async with asyncio.timeout(timeout):
            while True:
                summary = await self.topology_summary_by_name(name)
                if predicate(summary):
                    return summary
                await asyncio.sleep(interval)


def _initial_status(text: str) -> int:
    # Looked up by name among the two statuses only: the Thrift enum class has other
    # attributes (``_VALUES_TO_NAMES``…) that getattr would happily return.
    if text.upper() not in ("ACTIVE", "INACTIVE"):
        raise ValueError(f"initial status must be ACTIVE or INACTIVE, not {text!r}")
    status: int = getattr(idl.storm.TopologyInitialStatus, text.upper())
    return status


def _json_object(raw: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise errors.ProtocolError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise errors.ProtocolError(f"{what} is not a JSON object")
    return value
