"""Request frame in, reply frame out: how the emulator answers a Thrift call.

``dispatch`` decodes a call, refuses leader-only methods on a follower, runs
the method's handler (``handler.METHODS``), persists what changed, and
encodes the outcome the way Java Thrift and Nimbus do:

- a ``NimbusRejected`` whose Thrift exception the method declares goes into
  its result struct (``NotAliveException`` from ``killTopology``…);
- one the method does *not* declare becomes a ``TApplicationException``
  (INTERNAL_ERROR, "NotAliveException: <msg>"), as Java Thrift reports an
  undeclared exception;
- ``errors.ApplicationError`` becomes a ``TApplicationException`` of its kind:
  Storm's "not a leader, current leader is HOST:PORT", an unknown upload
  location…;
- anything else is a bug or an I/O failure: logged, and answered with
  INTERNAL_ERROR carrying the message, so the client gets an answer and the
  connection stays usable;
- a method the IDL lacks is answered with UNKNOWN_METHOD; bytes that are not a
  Thrift call get no answer (``None``: the server closes the connection, like
  Java's server on a protocol error).

The payload is bytes or, from the server, a memoryview of the connection's
receive buffer (``framing``), valid until ``dispatch`` returns. ``uploadChunk``
is decoded straight from that view and its chunk, a view too, is written to
disk without a copy: that call's cost decides upload throughput. Any other
call is copied to bytes first (thriftpy2's reader takes only bytes); those
frames are small, and nothing a handler keeps can then point into the buffer.
"""

from __future__ import annotations

import logging
from typing import Any

from thriftpy2.thrift import TApplicationException

from pilothouse.operators.storm.nimbus import errors, idl, wire
from pilothouse.operators.storm.nimbus.emulator import core, handler

log = logging.getLogger(__name__)


def _declared_field(result: Any, thrift_name: str) -> str | None:
    for field_id, spec in result.thrift_spec.items():
        if field_id != 0 and len(spec) > 2 and getattr(spec[2], "__name__", "") == thrift_name:
            return str(spec[1])
    return None


async def dispatch(nimbus: core.EmulatedNimbus, payload: bytes | memoryview) -> bytes | None:
    """The reply frame for a request frame's payload; None when the connection must close."""
    try:
        call = wire.decode_call(payload)
    except wire.UnknownMethod as exc:
        return wire.encode_application_error(
            exc.method, exc.seqid, str(exc), TApplicationException.UNKNOWN_METHOD
        )
    except errors.ProtocolError as exc:
        log.warning("closing a connection that sent a bad frame: %s", exc)
        return None
    entry = handler.METHODS.get(call.method)
    if entry is None:
        return wire.encode_application_error(
            call.method,
            call.seqid,
            f"Invalid method name: '{call.method}'",
            TApplicationException.UNKNOWN_METHOD,
        )
    result = wire.result_for(call)
    try:
        nimbus.prepare(entry.leader_only)
        value = await entry.handler(nimbus, call.args)
        nimbus.persist()
    except errors.ApplicationError as exc:
        kind = exc.kind or TApplicationException.INTERNAL_ERROR
        return wire.encode_application_error(call.method, call.seqid, exc.message, kind)
    except errors.NimbusRejected as exc:
        field = _declared_field(result, exc.thrift_name)
        if field is None:
            return wire.encode_application_error(
                call.method,
                call.seqid,
                f"{exc.thrift_name}: {exc.message}",
                TApplicationException.INTERNAL_ERROR,
            )
        setattr(result, field, getattr(idl.storm, exc.thrift_name)(msg=exc.message))
    except Exception as exc:
        log.exception("%s failed", call.method)
        return wire.encode_application_error(
            call.method,
            call.seqid,
            f"{type(exc).__name__}: {exc}",
            TApplicationException.INTERNAL_ERROR,
        )
    else:
        if 0 in result.thrift_spec:
            result.success = value
    try:
        return wire.encode_reply(call, result, nimbus.config.max_frame)
    except errors.FrameTooLargeError as exc:
        return wire.encode_application_error(
            call.method, call.seqid, str(exc), TApplicationException.INTERNAL_ERROR
        )
