"""Tokens → users, the admin role, API-server errors → HTTP answers, request validation."""

from __future__ import annotations

import pathlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import HTTPException
from pydantic import ValidationError

from pilothouse.client import errors
from pilothouse.operators.sessions import common
from pilothouse.operators.sessions.api import auth, deps, routes_sessions, schemas


def test_tokens_map_to_users_and_roles() -> None:
    tokens = auth.tokens_from_mapping(
        {"t-alice": "alice", "t-root": {"user": "root", "admin": True}}
    )
    a = auth.Authenticator(tokens)
    assert a.user_for("t-alice") == auth.User("alice", admin=False)
    assert a.user_for("t-root") == auth.User("root", admin=True)
    assert a.user_for("t-nobody") is None
    assert a.authenticate("Bearer t-root") == auth.User("root", admin=True)
    assert a.authenticate("bearer t-alice").name == "alice"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", "Basic t-alice", "t-alice"])
def test_a_missing_or_bad_token_is_401(header: str | None) -> None:
    a = auth.Authenticator({"t-alice": auth.User("alice")})
    with pytest.raises(HTTPException) as info:
        a.authenticate(header)
    assert info.value.status_code == 401
    assert info.value.headers == {"WWW-Authenticate": "Bearer"}


@pytest.mark.parametrize(
    "doc",
    [{"t": "alice@example.com"}, {"t": {"user": ""}}, {"t": 3}, {"": "alice"}, {"t": "-x"}],
)
def test_bad_token_configuration_is_refused(doc: dict[str, object]) -> None:
    with pytest.raises(ValueError) as info:
        auth.tokens_from_mapping(doc)
    assert "t-" not in str(info.value)  # the message never contains a token


def test_user_names_must_be_label_values() -> None:
    assert auth.valid_user_name("alice.b_c-1")
    assert not auth.valid_user_name("a" * 64)
    with pytest.raises(ValueError):
        auth.Authenticator({"t": auth.User("not valid")})


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.NotFound({"message": "gone"}, 404), 404),
        (errors.Forbidden({"message": "quota exceeded: sessions 3/3"}, 403), 403),
        (errors.BadRequest({"message": 'admission webhook "q" denied the request: no'}, 400), 403),
        (errors.BadRequest({"message": "malformed"}, 400), 502),
        (errors.Invalid({"message": "spec.image: bad"}, 422), 422),
        (errors.AlreadyExists({"reason": "AlreadyExists", "message": "exists"}, 409), 409),
        (errors.ServerError({"message": "boom"}, 500), 502),
    ],
)
def test_api_server_errors_map_to_http(exc: errors.ApiError, code: int) -> None:
    out = deps.http_error(exc)
    assert out.status_code == code
    assert exc.message in str(out.detail)


def test_session_create_builds_the_spec_for_the_token_user() -> None:
    body = schemas.SessionCreate.model_validate(
        {
            "template": "python",
            "idleTimeout": "15m",
            "resources": {"requests": {"cpu": "500m"}},
            "env": [{"name": "A", "value": "1"}],
            "home": {"size": "2Gi"},
        }
    )
    assert body.spec("alice") == {
        "user": "alice",
        "state": "running",
        "template": "python",
        "idleTimeout": "15m",
        "resources": {"requests": {"cpu": "500m"}},
        "env": [{"name": "A", "value": "1"}],
        "home": {"enabled": True, "size": "2Gi", "keepOnTerminate": False},
    }


@pytest.mark.parametrize(
    "doc",
    [
        {"name": "Not_A_Name"},
        {"name": "x" * 56},
        {"idleTimeout": "soon"},
        {"user": "mallory"},
        {"state": "terminated"},
    ],
)
def test_invalid_session_requests_are_refused(doc: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        schemas.SessionCreate.model_validate(doc)


def test_a_node_operation_request_is_a_spec_without_the_node() -> None:
    body = schemas.NodeOperationCreate.model_validate({"operation": "cordon"})
    assert body.spec("node-1")["node"] == "node-1"
    assert body.spec("node-1")["operation"] == "cordon"
    with pytest.raises(ValidationError):
        schemas.NodeOperationCreate.model_validate({"operation": "explode"})


def test_tokens_from_a_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("t-alice: alice\nt-root: {user: root, admin: true}\n")
    assert auth.tokens_from_file(path) == {
        "t-alice": auth.User("alice"),
        "t-root": auth.User("root", admin=True),
    }
    path.write_text("- not a mapping\n")
    with pytest.raises(ValueError):
        auth.tokens_from_file(path)


def test_the_wake_patch_is_newer_than_the_hibernation() -> None:
    t0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    obj: dict[str, Any] = {
        "metadata": {"name": "s", "resourceVersion": "7"},
        "status": {"hibernatedAt": "2026-12-01T12:00:00Z"},
    }
    key = common.ANNOTATION_WAKE_REQUESTED_AT

    def wake(now: datetime) -> str:
        patch = routes_sessions.wake_patch(obj, now)
        value: str = patch["metadata"]["annotations"][key]
        return value

    assert wake(t0 + timedelta(minutes=5)) == "2026-12-01T12:05:00Z"
    assert wake(t0 + timedelta(milliseconds=300)) == "2026-12-01T12:00:01Z"
    del obj["status"]
    assert routes_sessions.wake_patch(obj, t0) == {
        "metadata": {"resourceVersion": "7"},
        "spec": {"state": "running"},
    }
