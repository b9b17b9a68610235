"""The Nimbus service: one function per Thrift method.

Each ``@method`` function takes the ``EmulatedNimbus`` and the decoded
``<method>_args`` and returns the method's result (None for ``void``), or
raises a typed error from ``errors``: a ``NimbusRejected`` subclass for
Nimbus's declared exceptions (``NotAliveError`` -> ``NotAliveException``…),
``errors.ApplicationError`` for what Java Nimbus reports as a
``TApplicationException`` (an unknown upload location…). ``dispatch`` turns
those outcomes into reply frames; ``METHODS`` is what it dispatches on.

``LEADER_ONLY`` lists what a follower refuses: uploads, submissions and every
status change, as Storm's ``assertIsLeader`` does. A test checks ``METHODS``
covers every method of the IDL.

Where the emulator knowingly differs from Storm: ``getTopology`` returns the
submitted topology as is (Storm adds its system components; the emulator has
none), and ``getTopologySummaryByName``/``ById`` for an unknown topology answer
``TApplicationException`` "NotAliveException: <name>", because those methods
declare only ``AuthorizationException`` and that is how Java Thrift reports an
undeclared exception.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from thriftpy2.protocol import TCyBinaryProtocolFactory
from thriftpy2.utils import deserialize, serialize

from pilothouse.operators.storm.nimbus import errors, idl
from pilothouse.operators.storm.nimbus.emulator import core, scheduler, state, validation, views

log = logging.getLogger(__name__)

Handler = Callable[[core.EmulatedNimbus, Any], Awaitable[Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class _Method:
    handler: Handler
    leader_only: bool


METHODS: dict[str, _Method] = {}

# thriftpy2's stubs leave the Cython factory untyped.
_PROTOCOL: Any = cast(Any, TCyBinaryProtocolFactory)()
_INITIAL = {1: state.Status.ACTIVE, 2: state.Status.INACTIVE}


def method(name: str, *, leader_only: bool = False) -> Callable[[Handler], Handler]:
    """Register the handler of Thrift method ``name``."""

    def register(handler: Handler) -> Handler:
        METHODS[name] = _Method(handler, leader_only)
        return handler

    return register


# -- submission --------------------------------------------------------------------------------


def _submit(
    nimbus: core.EmulatedNimbus,
    name: str,
    location: str,
    json_conf: str,
    topology: Any,
    options: Any,
) -> None:
    validation.check_name(name)
    if nimbus.state.by_name(name) is not None:
        raise errors.AlreadyAliveError(f"Topology with name `{name}` already exists on cluster")
    conf = validation.parse_conf(json_conf)
    components = validation.components(topology)
    workers = validation.positive_int(conf.get(state.WORKERS, 1), state.WORKERS)
    status = _INITIAL.get(getattr(options, "initial_status", None) or 1)
    if status is None:
        raise errors.InvalidTopologyError(f"unknown initial status {options.initial_status}")
    jar = nimbus.inbox.claim(location)
    now = nimbus.now()
    merged = {**nimbus.default_conf(), **conf, state.WORKERS: workers, state.NAME: name}
    topology_id = nimbus.state.allocate_id(name, now)
    nimbus.store.install(topology_id, jar, serialize(topology, _PROTOCOL))
    try:
        nimbus.state.submit(topology_id, name, merged, components, status, now)
    except BaseException:
        nimbus.store.remove([topology_id])
        raise
    log.info("submitted %s (%s) from %s", name, topology_id, location)


@method("submitTopology", leader_only=True)
async def submit_topology(nimbus: core.EmulatedNimbus, args: Any) -> None:
    _submit(nimbus, args.name, args.uploadedJarLocation, args.jsonConf, args.topology, None)


@method("submitTopologyWithOpts", leader_only=True)
async def submit_topology_with_opts(nimbus: core.EmulatedNimbus, args: Any) -> None:
    _submit(nimbus, args.name, args.uploadedJarLocation, args.jsonConf, args.topology, args.options)


# -- status changes ------------------------------------------------------------------------------


@method("killTopology", leader_only=True)
async def kill_topology(nimbus: core.EmulatedNimbus, args: Any) -> None:
    nimbus.state.kill(args.name, None, nimbus.now())


@method("killTopologyWithOpts", leader_only=True)
async def kill_topology_with_opts(nimbus: core.EmulatedNimbus, args: Any) -> None:
    wait = args.options.wait_secs if args.options is not None else None
    nimbus.state.kill(args.name, wait, nimbus.now())


@method("activate", leader_only=True)
async def activate(nimbus: core.EmulatedNimbus, args: Any) -> None:
    nimbus.state.activate(args.name, nimbus.now())


@method("deactivate", leader_only=True)
async def deactivate(nimbus: core.EmulatedNimbus, args: Any) -> None:
    nimbus.state.deactivate(args.name, nimbus.now())


@method("rebalance", leader_only=True)
async def rebalance(nimbus: core.EmulatedNimbus, args: Any) -> None:
    nimbus.state.named(args.name)  # NotAlive comes before any complaint about the options
    options = args.options or idl.storm.RebalanceOptions()
    overrides = (
        validation.parse_conf(options.topology_conf_overrides, "topology_conf_overrides")
        if options.topology_conf_overrides is not None
        else {}
    )
    plan = state.Rebalance(
        num_workers=options.num_workers,
        num_executors=dict(options.num_executors or {}),
        conf_overrides=overrides,
    )
    nimbus.state.rebalance(args.name, options.wait_secs, plan, nimbus.now())


# -- uploads and downloads -------------------------------------------------------------------


@method("beginFileUpload", leader_only=True)
async def begin_file_upload(nimbus: core.EmulatedNimbus, args: Any) -> str:
    return nimbus.inbox.begin()


@method("uploadChunk", leader_only=True)
async def upload_chunk(nimbus: core.EmulatedNimbus, args: Any) -> None:
    nimbus.inbox.append(args.location, args.chunk or b"")


@method("finishFileUpload", leader_only=True)
async def finish_file_upload(nimbus: core.EmulatedNimbus, args: Any) -> None:
    size = await nimbus.inbox.finish(args.location)
    log.info("upload %s finished: %d bytes", args.location, size)


@method("beginBlobDownload")
async def begin_blob_download(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    source = nimbus.blob_source(args.key)
    try:
        session, size = nimbus.downloads.begin(source)
    except FileNotFoundError as exc:
        raise errors.KeyNotFoundError(args.key) from exc
    version = int(nimbus.now() * 1000) if isinstance(source, bytes) else 1
    return idl.storm.BeginDownloadResult(version=version, session=session, data_size=size)


@method("downloadBlobChunk")
async def download_blob_chunk(nimbus: core.EmulatedNimbus, args: Any) -> bytes:
    return nimbus.downloads.next_chunk(args.session)


# -- reads ----------------------------------------------------------------------------------


@method("getNimbusConf")
async def get_nimbus_conf(nimbus: core.EmulatedNimbus, args: Any) -> str:
    return json.dumps(nimbus.nimbus_conf(), sort_keys=True)


def _nimbuses(nimbus: core.EmulatedNimbus) -> list[Any]:
    version = nimbus.config.storm_version
    started = {p.endpoint: p.started for p in nimbus.peers.peers()}
    summaries = []
    for where in nimbus.nimbus_endpoints():
        if where == nimbus.endpoint:
            uptime = nimbus.uptime()
        else:
            uptime = int(nimbus.now() - started[where]) if where in started else 0
        summaries.append(
            views.nimbus_summary(where, max(0, uptime), where == nimbus.leader, version)
        )
    return summaries


@method("getClusterInfo")
async def get_cluster_info(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    now, version = nimbus.now(), nimbus.config.storm_version
    return idl.storm.ClusterSummary(
        supervisors=views.supervisor_summaries(nimbus.state, nimbus.uptime(), version),
        topologies=[
            views.topology_summary(t, now, version) for t in nimbus.state.sorted_topologies()
        ],
        nimbuses=_nimbuses(nimbus),
    )


@method("getLeader")
async def get_leader(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    return next(n for n in _nimbuses(nimbus) if n.isLeader)


@method("getTopologySummaries")
async def get_topology_summaries(nimbus: core.EmulatedNimbus, args: Any) -> list[Any]:
    now, version = nimbus.now(), nimbus.config.storm_version
    return [views.topology_summary(t, now, version) for t in nimbus.state.sorted_topologies()]


@method("getTopologySummaryByName")
async def get_topology_summary_by_name(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    topology = nimbus.state.named(args.name)
    return views.topology_summary(topology, nimbus.now(), nimbus.config.storm_version)


@method("getTopologySummaryById")
async def get_topology_summary_by_id(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    topology = nimbus.state.with_id(args.id)
    return views.topology_summary(topology, nimbus.now(), nimbus.config.storm_version)


@method("isTopologyNameAllowed")
async def is_topology_name_allowed(nimbus: core.EmulatedNimbus, args: Any) -> bool:
    try:
        validation.check_name(args.name)
    except errors.InvalidTopologyError:
        return False
    return nimbus.state.by_name(args.name) is None


def _info(nimbus: core.EmulatedNimbus, topology_id: str) -> Any:
    topology = nimbus.state.with_id(topology_id)
    return views.topology_info(topology, nimbus.now(), nimbus.config.storm_version, nimbus.uptime())


@method("getTopologyInfo")
async def get_topology_info(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    return _info(nimbus, args.id)


@method("getTopologyInfoWithOpts")
async def get_topology_info_with_opts(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    return _info(nimbus, args.id)


@method("getSupervisorPageInfo")
async def get_supervisor_page_info(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    indexes = [
        i
        for i in range(nimbus.slots.supervisors)
        if (args.id and scheduler.supervisor_id(i) == args.id)
        or (not args.id and args.host and scheduler.supervisor_id(i) == args.host)
    ]
    if not indexes:
        raise errors.NotAliveError(args.id or args.host or "")
    return views.supervisor_page(
        nimbus.state, indexes, nimbus.now(), nimbus.uptime(), nimbus.config.storm_version
    )


@method("getTopologyConf")
async def get_topology_conf(nimbus: core.EmulatedNimbus, args: Any) -> str:
    return json.dumps(nimbus.state.with_id(args.id).conf, sort_keys=True)


def _topology(nimbus: core.EmulatedNimbus, topology_id: str) -> Any:
    nimbus.state.with_id(topology_id)
    code = nimbus.store.read_code(topology_id)
    return deserialize(idl.storm.StormTopology(), code, _PROTOCOL)


@method("getTopology")
async def get_topology(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    # Storm adds system components (ackers…) here; the emulator has none to add.
    return _topology(nimbus, args.id)


@method("getUserTopology")
async def get_user_topology(nimbus: core.EmulatedNimbus, args: Any) -> Any:
    return _topology(nimbus, args.id)


#: What a follower refuses: uploads, submissions and every status change (Storm's assertIsLeader).
LEADER_ONLY = frozenset(name for name, m in METHODS.items() if m.leader_only)
