"""The control plane's errors, one class per gRPC status code the API answers with.

The state machine raises these; the gRPC service maps ``code`` to the status and ``str()``
to the message, and the client raises the same classes again, so a caller handles
``LockHeld`` the same way in-process and across the network.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc

from pilothouse.controlplane import etcd


class ControlPlaneError(Exception):
    """Base class; ``code`` is the gRPC status code the API answers with."""

    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(ControlPlaneError, ValueError):
    """The request is malformed (empty id, TTL out of range, oversized value, ...).
    Nothing was changed."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ControlPlaneError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ControlPlaneError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(ControlPlaneError):
    """The request is valid but the state does not allow it (a lock held by someone else,
    a token that is not the current one, a config changed since the expected version)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class LockHeld(FailedPrecondition):
    """AcquireLock on a ref another owner holds."""

    def __init__(self, ref: str, owner: str, token: int, remaining_seconds: int) -> None:
        until = (
            f"for another {remaining_seconds}s" if remaining_seconds >= 0 else "until it expires"
        )
        super().__init__(f"ref {ref!r} is locked by {owner!r} (token {token}) {until}")
        self.ref = ref
        self.owner = owner
        self.token = token
        self.remaining_seconds = remaining_seconds


class OutOfRange(ControlPlaneError):
    """WatchTopology from a version older than the retained history: read the state again
    (GetClusterState) and watch from its version."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unavailable(ControlPlaneError):
    """No quorum, the replica's etcd member is down, or a timeout: retry, maybe elsewhere.
    A write that failed this way may or may not have been applied."""

    code = grpc.StatusCode.UNAVAILABLE


class Internal(ControlPlaneError):
    """etcd refused a request for a reason that is not the caller's (its message is kept)."""

    code = grpc.StatusCode.INTERNAL


BY_CODE: dict[grpc.StatusCode, type[ControlPlaneError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        OutOfRange,
        Unavailable,
        Internal,
    )
}


@contextlib.contextmanager
def from_etcd() -> Iterator[None]:
    """Translate the etcd client's errors into the API's."""
    try:
        yield
    except etcd.EtcdUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    except etcd.EtcdCompacted as exc:
        raise OutOfRange(str(exc)) from exc
    except etcd.EtcdError as exc:
        raise Internal(str(exc)) from exc
