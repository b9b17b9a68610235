"""A scriptable fake Nimbus: a real Thrift TCP server on 127.0.0.1 whose answers tests write.

The Nimbus emulator (``nimbus.emulator``) behaves like Storm; this fake behaves
like whatever a test says, which is what client tests need to provoke the
failures a real Nimbus only shows under bad luck: a connection dropped after
the request was read, an answer that comes too late, a follower that names
another leader, an endpoint that dies and comes back on the same port.

It speaks the real wire format (``nimbus.wire``: framed binary protocol), so
the code under test runs its real socket path. Scripting:

- ``handlers`` maps a Nimbus method name to a function of the decoded
  ``<method>_args`` struct (``args.name``, ``args.chunk`` …), plain or async.
  Its return value is the method's result. To answer with a declared Thrift
  exception, raise the IDL struct (``idl.storm.NotAliveException(msg=...)``);
  to answer with a ``TApplicationException`` (how Java Nimbus reports
  everything else, "not a leader" included), raise ``ApplicationFailure`` (see
  ``not_leader``). Any other exception becomes an ``INTERNAL_ERROR``
  ``TApplicationException`` with its message, as in Java, and so does a
  method that has no handler (saying so).
- Markers, returned instead of a value: ``DROP`` closes the connection without
  answering (the request was read and the handler ran: the "did it happen?"
  case), ``HANG`` never answers (until the server stops), and
  ``Delay(seconds, then)`` answers ``then`` (a value or marker) later.
- ``getLeader`` and ``getClusterInfo`` have defaults built from ``is_leader``
  and ``leader``, so a fake is a working single Nimbus out of the box;
  ``leader_only`` wraps a handler so it refuses like a follower when
  ``is_leader`` is false.
- ``calls`` counts calls per method (counted when the request is decoded,
  before the handler runs, so a dropped call still counts); ``last_args`` keeps
  the latest arguments per method (only the latest: an upload of many chunks
  does not pile up in memory).
- ``stop()`` closes the listener and every open connection; ``start()`` binds
  the same port again (chosen by the OS on the first start), so a test can
  kill and restart "the same" Nimbus. ``drop_connections()`` closes the
  connections but keeps listening, as a Nimbus restart seen by idle clients.

Everything is in-process, on the test's event loop; ``stop()`` (or leaving
``async with``) closes every socket and awaits every task, so the strict
warnings of the test suite see no leaked resources.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import inspect
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from thriftpy2.thrift import TApplicationException, TType

from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus import errors, idl, wire

#: A handler: the decoded ``<method>_args`` struct in, the result (or an awaitable of it) out.
Handler = Callable[[Any], Any]


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"thriftfake.{self._name}"


#: Close the connection instead of answering (the request was read and handled).
DROP = _Marker("DROP")
#: Never answer; the connection stays open until the client gives up or the server stops.
HANG = _Marker("HANG")


@dataclasses.dataclass(frozen=True)
class Delay:
    """Answer ``then`` (a value, ``DROP``, ``HANG`` or another ``Delay``) after ``seconds``."""

    seconds: float
    then: Any = None


class ApplicationFailure(Exception):
    """Raise from a handler to answer with a ``TApplicationException`` carrying ``message``."""

    def __init__(self, message: str, kind: int = TApplicationException.INTERNAL_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def not_leader(leader: endpoint_mod.Endpoint | None) -> ApplicationFailure:
    """What Storm's ``assertIsLeader`` answers on a follower, naming ``leader`` like Java does."""
    if leader is None:
        return ApplicationFailure("not a leader, current leader is null")
    return ApplicationFailure(
        "not a leader, current leader is "
        f"NimbusInfo{{host='{leader.host}', port={leader.port}, isLeader=true}}"
    )


def summary(endpoint: endpoint_mod.Endpoint, *, is_leader: bool, uptime_secs: int = 1) -> Any:
    """A ``NimbusSummary`` for ``endpoint``."""
    return idl.storm.NimbusSummary(
        host=endpoint.host,
        port=endpoint.port,
        uptime_secs=uptime_secs,
        isLeader=is_leader,
        version="2.6.0-fake",
    )


class FakeNimbus:
    """One scriptable Nimbus on 127.0.0.1; ``async with FakeNimbus(...) as fake`` starts it."""

    def __init__(
        self,
        handlers: Mapping[str, Handler] | None = None,
        *,
        is_leader: bool = True,
        leader: endpoint_mod.Endpoint | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        max_frame: int = wire.DEFAULT_MAX_FRAME,
    ) -> None:
        """``is_leader``: whether this fake is the leader; ``leader``: whom it names otherwise."""
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.is_leader = is_leader
        self.leader = leader
        self.max_frame = max_frame
        self.calls: collections.Counter[str] = collections.Counter()
        self.last_args: dict[str, Any] = {}
        #: Connections accepted since the fake was made (across restarts).
        self.accepted = 0
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dropping: set[asyncio.Task[None]] = set()
        self._started_at = time.monotonic()

    @property
    def endpoint(self) -> endpoint_mod.Endpoint:
        """Where the fake listens; fixed after the first ``start``."""
        if self._port == 0:
            raise RuntimeError("FakeNimbus has no port before its first start()")
        return endpoint_mod.Endpoint(self._host, self._port)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def open_connections(self) -> int:
        """Client connections open right now."""
        return len(self._writers)

    async def start(self) -> FakeNimbus:
        """Listen (on the same port as before after a ``stop``); a no-op when running."""
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, self._host, self._port)
            if self._port == 0:
                self._port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection: the endpoint is dead. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self.drop_connections()
        if server is not None:
            await server.wait_closed()

    async def drop_connections(self) -> None:
        """Close every open connection (the listener stays), and wait until they are closed."""
        tasks = list(self._tasks)
        for task in tasks:
            self._dropping.add(task)
            task.cancel()
        # Tasks close their own writers; gather waits until they have.
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> FakeNimbus:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def leader_only(self, handler: Handler) -> Handler:
        """``handler``, refusing like a Storm follower (``not_leader``) while not the leader."""

        def guarded(args: Any) -> Any:
            if not self.is_leader:
                raise not_leader(self.leader)
            return handler(args)

        return guarded

    def _summary(self) -> Any:
        uptime = int(time.monotonic() - self._started_at)
        return summary(self.endpoint, is_leader=self.is_leader, uptime_secs=uptime)

    def _default_get_leader(self, args: Any) -> Any:
        if self.is_leader:
            return self._summary()
        if self.leader is None:
            raise ApplicationFailure("No leader nimbus found")
        return summary(self.leader, is_leader=True)

    def _default_cluster_info(self, args: Any) -> Any:
        nimbuses = [self._summary()]
        if not self.is_leader and self.leader is not None:
            nimbuses.append(summary(self.leader, is_leader=True))
        return idl.storm.ClusterSummary(supervisors=[], topologies=[], nimbuses=nimbuses)

    def _handler(self, method: str) -> Handler | None:
        handler = self.handlers.get(method)
        if handler is not None:
            return handler
        if method == "getLeader":
            return self._default_get_leader
        if method == "getClusterInfo":
            return self._default_cluster_info
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.accepted += 1
        try:
            while True:
                try:
                    payload = await wire.read_frame(reader, self.max_frame)
                except (asyncio.IncompleteReadError, ConnectionError, errors.FrameTooLargeError):
                    return
                try:
                    call = wire.decode_call(payload)
                except wire.UnknownMethod as exc:
                    writer.write(
                        wire.encode_application_error(
                            exc.method, exc.seqid, str(exc), TApplicationException.UNKNOWN_METHOD
                        )
                    )
                    continue
                except errors.ProtocolError:
                    return
                self.calls[call.method] += 1
                self.last_args[call.method] = call.args
                frame = await self._answer(call)
                if frame is None:
                    return
                if call.oneway:
                    continue
                writer.write(frame)
                await writer.drain()
        except ConnectionError:
            return
        except asyncio.CancelledError:
            # asyncio's stream protocol asks a finished connection task for its exception,
            # which for a cancelled task is itself an error it logs: end normally when the
            # cancellation is ours (drop_connections), propagate anyone else's.
            if task in self._dropping:
                return
            raise
        finally:
            self._dropping.discard(task)
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, call: wire.Call) -> bytes | None:
        """The reply frame for ``call``, or None to drop the connection."""
        handler = self._handler(call.method)
        if handler is None:
            return wire.encode_application_error(
                call.method, call.seqid, f"fake Nimbus has no handler for {call.method}"
            )
        try:
            value = handler(call.args)
            if inspect.isawaitable(value):
                value = await value
        except ApplicationFailure as exc:
            return wire.encode_application_error(call.method, call.seqid, exc.message, exc.kind)
        except Exception as exc:
            result = wire.result_for(call)
            field = _exception_field(result, exc)
            if field is None:
                return wire.encode_application_error(
                    call.method, call.seqid, f"{type(exc).__name__}: {exc}"
                )
            setattr(result, field, exc)
            return wire.encode_reply(call, result, self.max_frame)
        while isinstance(value, Delay):
            await asyncio.sleep(value.seconds)
            value = value.then
        if value is DROP:
            return None
        if value is HANG:
            await asyncio.Event().wait()
        result = wire.result_for(call)
        if 0 in result.thrift_spec:
            result.success = value
        return wire.encode_reply(call, result, self.max_frame)


def _exception_field(result: Any, exc: BaseException) -> str | None:
    """The field of a ``<method>_result`` struct declared to carry ``exc``, if any."""
    for field_id, spec in result.thrift_spec.items():
        if field_id == 0 or spec[0] != TType.STRUCT:
            continue
        if isinstance(exc, spec[2]):
            name: str = spec[1]
            return name
    return None
