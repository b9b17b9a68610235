"""Typed errors for everything Nimbus or the road to it can answer.

Two families, because callers act on them differently:

- ``NimbusRejected`` and its subclasses: Nimbus answered, and said no
  (``AlreadyAliveError`` for a duplicate name, ``NotAliveError`` for an unknown
  topology, ``InvalidTopologyError``, ``AuthorizationError``, ``KeyNotFoundError``
  …). Retrying cannot help; the message is Nimbus's own.
- ``NimbusUnavailable`` and its subclasses: the call may not have reached Nimbus,
  or its answer was lost (``ConnectionFailed``, ``CallTimeout``), the endpoint is
  not the leader (``NotLeaderError``), or the client refuses to try
  (``CircuitOpenError``). These are transient; the pool retries them, but only
  for calls that are safe to repeat (see ``client``).

``from_thrift`` maps the exceptions thriftpy2 decodes into these classes.
"""

from __future__ import annotations

import re
from typing import Any


class NimbusError(Exception):
    """Anything that went wrong talking to Nimbus."""


class NimbusRejected(NimbusError):
    """Nimbus answered and refused; the message is Nimbus's own."""

    thrift_name = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AlreadyAliveError(NimbusRejected):
    """A topology with this name is already running (``AlreadyAliveException``)."""

    thrift_name = "AlreadyAliveException"


class NotAliveError(NimbusRejected):
    """No topology with this name or id (``NotAliveException``)."""

    thrift_name = "NotAliveException"


class InvalidTopologyError(NimbusRejected):
    """Nimbus refused the topology or the options (``InvalidTopologyException``)."""

    thrift_name = "InvalidTopologyException"


class AuthorizationError(NimbusRejected):
    """The caller may not do this (``AuthorizationException``)."""

    thrift_name = "AuthorizationException"


class KeyNotFoundError(NimbusRejected):
    """No blob with this key (``KeyNotFoundException``)."""

    thrift_name = "KeyNotFoundException"


class KeyAlreadyExistsError(NimbusRejected):
    """A blob with this key exists (``KeyAlreadyExistsException``)."""

    thrift_name = "KeyAlreadyExistsException"


class IllegalStateError(NimbusRejected):
    """Nimbus is in a state that forbids this (``IllegalStateException``)."""

    thrift_name = "IllegalStateException"


class ApplicationError(NimbusRejected):
    """Nimbus failed the call with a Thrift ``TApplicationException``.

    Java Nimbus turns any unexpected exception into one of these, with the
    exception's message (an unknown upload location, an expired upload, …).
    """

    def __init__(self, message: str, kind: int = 0) -> None:
        super().__init__(message)
        self.kind = kind


class NimbusUnavailable(NimbusError):
    """The call may not have happened; trying again (elsewhere, later) can help."""


class ConnectionFailed(NimbusUnavailable):
    """Could not connect, or the connection broke before the answer arrived."""


class CallTimeout(NimbusUnavailable):
    """No answer within the call's timeout; the call may or may not have run."""


class NotLeaderError(NimbusUnavailable):
    """This Nimbus is not the leader; ``leader`` is the one it named, if any."""

    def __init__(self, message: str, leader: str | None = None) -> None:
        super().__init__(message)
        self.leader = leader


class CircuitOpenError(NimbusUnavailable):
    """The endpoint failed repeatedly; the client does not try it until ``retry_in`` s pass."""

    def __init__(self, endpoint: str, retry_in: float) -> None:
        super().__init__(
            f"circuit open for Nimbus {endpoint}: recent calls failed; next try in {retry_in:.1f}s"
        )
        self.endpoint = endpoint
        self.retry_in = retry_in


class NoLeaderError(NimbusUnavailable):
    """None of the configured Nimbus endpoints is, or names, a reachable leader."""


class FrameTooLargeError(NimbusError):
    """A Thrift frame over ``nimbus.thrift.max_buffer_size``; never sent or accepted."""


class ProtocolError(NimbusError):
    """The peer's bytes are not the Thrift we expect (bad frame, wrong method, seqid)."""


class UploadError(NimbusError):
    """A JAR upload did not complete, or what Nimbus holds is not what we sent."""


class TopologyError(NimbusError):
    """A topology description is invalid; raised before anything is sent."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid topology:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


_REJECTIONS: dict[str, type[NimbusRejected]] = {
    cls.thrift_name: cls
    for cls in (
        AlreadyAliveError,
        NotAliveError,
        InvalidTopologyError,
        AuthorizationError,
        KeyNotFoundError,
        KeyAlreadyExistsError,
        IllegalStateError,
    )
}

# Storm's Nimbus.assertIsLeader says "not a leader, current leader is NimbusInfo{host='h',
# port=6627, …}" (the Java toString); the emulator says "… current leader is h:6627".
_NOT_LEADER = re.compile(r"not a leader", re.IGNORECASE)
_LEADER_JAVA = re.compile(r"host='([^']+)',\s*port=(\d+)")
_LEADER_PLAIN = re.compile(r"current leader is\s+([^\s,]+:\d+)")


def not_leader(message: str) -> NotLeaderError | None:
    """The ``NotLeaderError`` a message means, or None when it means something else."""
    if not _NOT_LEADER.search(message):
        return None
    java = _LEADER_JAVA.search(message)
    if java:
        return NotLeaderError(message, f"{java.group(1)}:{java.group(2)}")
    plain = _LEADER_PLAIN.search(message)
    return NotLeaderError(message, plain.group(1) if plain else None)


def from_thrift(exc: Any) -> NimbusError:
    """The typed error for an exception struct decoded from a Nimbus reply."""
    name = type(exc).__name__
    message = str(getattr(exc, "msg", None) or getattr(exc, "message", None) or exc)
    if name == "TApplicationException":
        return not_leader(message) or ApplicationError(message, int(getattr(exc, "type", 0)))
    cls = _REJECTIONS.get(name)
    if cls is not None:
        return not_leader(message) or cls(message)
    return ApplicationError(f"{name}: {message}")
