"""The emulator's Thrift server: asyncio TCP, framed binary protocol, one Nimbus.

``EmulatorServer`` listens with ``loop.create_server``; each connection is a
``framing.FramedConnection``, which reads frames into one reused buffer and
hands them to ``dispatch`` one at a time, in order, which is what Java's
``TThreadPoolServer`` gives each connection: replies come back in request
order, so a client may pipeline (the upload does). ``framing`` says why it is
a buffered protocol rather than a stream reader (an upload's frames are never
copied on the way in) and how its buffer stays safe and bounded.

A frame announcing more than ``max_frame`` bytes closes that connection without
a reply, as Java's ``TFramedTransport`` does: the stream can no longer be
trusted to be in step. Other connections carry on.

Background tasks, started by ``start`` and ended by ``stop``:

- upkeep (``EmulatedNimbus.maintain``) every ``TICK`` seconds or at the next
  kill/rebalance deadline, whichever is sooner, plus this instance's entry in
  the peer list;
- for a follower, the leader watch (``leadership.follow``); when it returns,
  the server promotes itself, logs, and calls ``on_promoted``.

``stop`` closes the listener and every client connection and waits for their
tasks and transports, so nothing is left for a ResourceWarning to find; open
uploads are abandoned (a restart would delete their ``.part`` files anyway).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from types import TracebackType

from pilothouse.operators.storm.nimbus import endpoint as endpoint_mod
from pilothouse.operators.storm.nimbus.emulator import config as config_mod
from pilothouse.operators.storm.nimbus.emulator import core, dispatch, framing, leadership

log = logging.getLogger(__name__)

#: Longest pause between upkeep passes.
TICK = 0.5
#: How long ``stop`` lets connections finish the call in hand and send what they have written.
STOP_GRACE = 5.0


class EmulatorServer:
    """An emulated Nimbus on a TCP port. ``start``, then ``stop`` (or use ``async with``)."""

    def __init__(
        self,
        config: config_mod.EmulatorConfig,
        *,
        on_promoted: Callable[[EmulatorServer], None] | None = None,
    ) -> None:
        self.config = config.validated()
        self.nimbus = core.EmulatedNimbus(self.config)
        self.lock = leadership.LeaderLock(self.config.data_dir)
        self.on_promoted = on_promoted
        #: Set once a follower has promoted itself.
        self.promoted = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._connections: set[framing.FramedConnection] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()

    # -- public view ----------------------------------------------------------------------

    @property
    def endpoint(self) -> endpoint_mod.Endpoint:
        """Where the server listens (the actual port once started)."""
        return self.nimbus.endpoint

    @property
    def is_leader(self) -> bool:
        return self.nimbus.is_leader

    @property
    def leader(self) -> endpoint_mod.Endpoint:
        """The leader as this instance sees it: itself, or the endpoint it follows."""
        return self.nimbus.leader

    @property
    def role(self) -> str:
        """``leader`` or ``follower of HOST:PORT``, as the start-up line says it."""
        return "leader" if self.is_leader else f"follower of {self.leader}"

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def open_connections(self) -> list[framing.FramedConnection]:
        """The client connections being served (their buffer and flow-control state)."""
        return list(self._connections)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the leader lock (leaders), load the state, and listen.

        Raises ``leadership.LeadershipError`` when another emulator leads from
        the same data directory, ``OSError`` when the port is taken.
        """
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        if self.config.follower_of is None:
            self.lock.acquire()
        try:
            if self.config.follower_of is None:
                self.nimbus.become_leader()
            else:
                self.nimbus.load()
            self._server = await asyncio.get_running_loop().create_server(
                self._new_connection, self.config.host, self.config.port
            )
        except BaseException:
            self.nimbus.close()
            self.lock.release()
            raise
        port = int(self._server.sockets[0].getsockname()[1])
        self.nimbus.endpoint = endpoint_mod.Endpoint(self.config.host, port)
        self.nimbus.peers.beat(self.nimbus.endpoint, self.nimbus.started_wall)
        self._tasks.append(asyncio.create_task(self._upkeep(), name="nimbus-emulator-upkeep"))
        if self.config.follower_of is not None:
            self._tasks.append(asyncio.create_task(self._follow(), name="nimbus-emulator-follow"))
        log.info("nimbus emulator listening on %s (%s)", self.endpoint, self.role)

    async def serve_forever(self) -> None:
        """Wait until ``stop`` is called (by another task)."""
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop listening, close every connection, end background tasks; idempotent."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # A connection ends once the call in hand is done and the replies written are sent;
        # cancelling and aborting is the fallback for one stuck on a slow fsync or on a peer
        # that does not read, not the rule.
        connections = list(self._connections)
        for conn in connections:
            conn.close()
        tasks = [conn.task for conn in connections if conn.task is not None]
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=STOP_GRACE)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        for conn in connections:
            if not conn.lost.done():
                conn.abort()
        if connections:
            # An aborted transport calls connection_lost in the next loop step: let it.
            await asyncio.wait([conn.lost for conn in connections])
        await server.wait_closed()
        self.nimbus.close()
        self.nimbus.peers.leave(self.nimbus.endpoint)
        self.lock.release()
        self._stopped.set()
        log.info("nimbus emulator on %s stopped", self.endpoint)

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def maintain(self) -> None:
        """Run an upkeep pass now (tests with a fake clock call this after moving it)."""
        self.nimbus.maintain()

    # -- connections -------------------------------------------------------------------------

    def _new_connection(self) -> framing.FramedConnection:
        return framing.FramedConnection(
            functools.partial(dispatch.dispatch, self.nimbus),
            self.config.max_frame,
            on_open=self._opened,
            on_done=self._connections.discard,
        )

    def _opened(self, conn: framing.FramedConnection) -> None:
        self._connections.add(conn)
        if self._server is None:
            # Accepted just as stop() took its list of connections: it must not outlive stop.
            conn.close()

    # -- background --------------------------------------------------------------------------

    async def _upkeep(self) -> None:
        while True:
            try:
                self.nimbus.maintain()
                self.nimbus.peers.beat(self.nimbus.endpoint, self.nimbus.started_wall)
            except Exception:
                log.exception("upkeep failed; retrying")
            pause = TICK
            deadline = self.nimbus.state.next_deadline()
            if self.is_leader and deadline is not None:
                pause = min(TICK, max(0.01, deadline - self.nimbus.now()))
            await asyncio.sleep(pause)

    async def _follow(self) -> None:
        leader = self.config.follower_of
        assert leader is not None
        await leadership.follow(
            leader,
            self.lock,
            probe_interval=self.config.probe_interval,
            failover_after=self.config.failover_after,
        )
        started = time.monotonic()
        try:
            self.nimbus.become_leader()
        except Exception:
            log.exception("promotion failed; staying a follower")
            self.lock.release()
            return
        log.warning(
            "promoted to leader on %s in %.3fs (was follower of %s)",
            self.endpoint,
            time.monotonic() - started,
            leader,
        )
        self.promoted.set()
        if self.on_promoted is not None:
            self.on_promoted(self)
