"""The client rebuilds the API's error classes from a gRPC status (``error_from_rpc``)."""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio
import pytest

from pilothouse.controlplane import errors, service
from pilothouse.controlplane.client import error_from_rpc

_LOCK_META = (
    ("lock-owner", "builder-7"),
    ("lock-token", "1234"),
    ("lock-remaining-seconds", "17"),
)


def _rpc_error(
    code: grpc.StatusCode,
    details: str | None = "boom",
    trailing: tuple[tuple[str, str | bytes], ...] = (),
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details=details
    )


def test_by_code_covers_every_error_class() -> None:
    expected = {
        grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
        grpc.StatusCode.NOT_FOUND: errors.NotFound,
        grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
        grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
        grpc.StatusCode.OUT_OF_RANGE: errors.OutOfRange,
        grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
        grpc.StatusCode.INTERNAL: errors.Internal,
    }
    assert dict(errors.BY_CODE) == expected
    for code, cls in errors.BY_CODE.items():
        assert cls.code == code


@pytest.mark.parametrize("code", list(errors.BY_CODE), ids=lambda c: c.name)
def test_every_mapped_code(code: grpc.StatusCode) -> None:
    err = error_from_rpc(_rpc_error(code, "the reason"))
    assert type(err) is errors.BY_CODE[code]
    assert str(err) == "the reason"
    assert err.args == ("the reason",)
    assert err.code == code


@pytest.mark.parametrize("code", list(errors.BY_CODE), ids=lambda c: c.name)
def test_missing_details_fall_back_to_the_code_name(code: grpc.StatusCode) -> None:
    err = error_from_rpc(_rpc_error(code, None))
    assert type(err) is errors.BY_CODE[code]
    assert str(err) == code.name


def test_deadline_exceeded_is_unavailable() -> None:
    err = error_from_rpc(_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
    assert type(err) is errors.Unavailable
    assert str(err) == "deadline exceeded: Deadline Exceeded"
    err = error_from_rpc(_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, None))
    assert str(err) == "deadline exceeded: DEADLINE_EXCEEDED"


@pytest.mark.parametrize(
    "code",
    [
        c
        for c in grpc.StatusCode
        if c not in errors.BY_CODE
        and c not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.OK)
    ],
    ids=lambda c: c.name,
)
def test_unmapped_codes_are_the_base_class(code: grpc.StatusCode) -> None:
    err = error_from_rpc(_rpc_error(code, "odd"))
    assert type(err) is errors.ControlPlaneError
    assert str(err) == "odd"


def test_lock_held_from_trailing_metadata() -> None:
    message = "ref 'refs/heads/main' is locked by 'builder-7' (token 1234) for another 17s"
    err = error_from_rpc(_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, message, _LOCK_META))
    assert type(err) is errors.LockHeld
    assert isinstance(err, errors.FailedPrecondition)
    assert err.code == grpc.StatusCode.FAILED_PRECONDITION
    assert err.owner == "builder-7"
    assert err.token == 1234
    assert err.remaining_seconds == 17
    assert err.ref == ""  # the client fills it in from its request
    assert str(err) == message
    assert err.args == (message,)


def test_lock_held_unknown_remaining() -> None:
    meta = (("lock-owner", "o"), ("lock-token", "5"), ("lock-remaining-seconds", "-1"))
    err = error_from_rpc(_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "held", meta))
    assert isinstance(err, errors.LockHeld)
    assert (err.owner, err.token, err.remaining_seconds) == ("o", 5, -1)


def test_other_metadata_is_ignored() -> None:
    meta = (("x-trace", "abc"), ("x-blob-bin", b"\x00\x01"))
    err = error_from_rpc(_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "stale token", meta))
    assert type(err) is errors.FailedPrecondition
    assert str(err) == "stale token"


def test_binary_lock_owner_metadata_is_not_a_lock() -> None:
    # Only text values count: a "-bin" style binary value never names a holder.
    err = error_from_rpc(
        _rpc_error(grpc.StatusCode.FAILED_PRECONDITION, "x", (("lock-owner", b"o"),))
    )
    assert type(err) is errors.FailedPrecondition


class _FakeContext:
    """The parts of ``grpc.aio.ServicerContext`` that ``service._abort`` uses."""

    def __init__(self) -> None:
        self.trailing: tuple[tuple[str, str], ...] = ()
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def set_trailing_metadata(self, md: tuple[tuple[str, str], ...]) -> None:
        self.trailing = md

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise grpc.aio.AbortError()


async def _through_the_service(exc: BaseException) -> errors.ControlPlaneError:
    """What a client rebuilds from the status the service answers ``exc`` with."""
    context: Any = _FakeContext()
    with pytest.raises(grpc.aio.AbortError):
        await service._abort(context, exc)
    assert context.code is not None
    return error_from_rpc(_rpc_error(context.code, context.details, context.trailing))


async def test_lock_held_survives_the_service_and_the_client() -> None:
    sent = errors.LockHeld("refs/heads/main", "builder-7", 1234, 17)
    got = await _through_the_service(sent)
    assert type(got) is errors.LockHeld
    assert isinstance(got, errors.LockHeld)
    assert (got.owner, got.token, got.remaining_seconds) == ("builder-7", 1234, 17)
    assert str(got) == str(sent)
    assert str(got) == "ref 'refs/heads/main' is locked by 'builder-7' (token 1234) for another 17s"


@pytest.mark.parametrize(
    "sent",
    [
        errors.InvalidArgument("bad ttl"),
        errors.NotFound("no node 'x'"),
        errors.AlreadyExists("node 'x' already exists"),
        errors.FailedPrecondition("token 3 was never granted"),
        errors.OutOfRange("compacted"),
        errors.Unavailable("no quorum"),
        errors.Internal("etcd said no"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_errors_survive_the_service_and_the_client(sent: errors.ControlPlaneError) -> None:
    got = await _through_the_service(sent)
    assert type(got) is type(sent)
    assert str(got) == str(sent)


async def test_unexpected_exceptions_become_internal(caplog: pytest.LogCaptureFixture) -> None:
    got = await _through_the_service(RuntimeError("oops"))
    assert type(got) is errors.Internal
    assert str(got) == "internal error: RuntimeError('oops')"
    assert "control plane request failed" in caplog.text
