"""Bearer-token authentication: a static mapping of tokens to users, and the admin role.

Tokens are configured (:attr:`.app.Settings.tokens`), not issued by the API: the sessions
API sits behind whatever hands tokens to people (a login proxy, ``make up`` printing one).
Every request but the health check needs ``Authorization: Bearer <token>``; a missing or
unknown token is 401 with ``WWW-Authenticate: Bearer``, a non-admin on an admin endpoint
403.

Tokens are kept only as SHA-256 digests and looked up by digest, so the time a lookup
takes depends on the digest of what was sent, never on how much of a real token it
matched (no timing oracle), and a dump of the process holds no usable token.

User names become a label value on the user's Sessions (``sessions.pilothouse.dev/user``),
so they must be valid label values (at most 63 characters of ``[A-Za-z0-9._-]``, starting
and ending alphanumeric); :func:`tokens_from_mapping` refuses others at startup rather than
at the first create.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from fastapi import HTTPException, Request, status

__all__ = [
    "Authenticator",
    "User",
    "admin_user",
    "current_user",
    "tokens_from_file",
    "tokens_from_mapping",
    "valid_user_name",
]

_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class User:
    """Who a token belongs to."""

    name: str
    admin: bool = False


def valid_user_name(name: str) -> bool:
    """Whether ``name`` can be a label value (see the module docstring)."""
    return bool(_LABEL_VALUE.match(name))


def tokens_from_mapping(doc: Mapping[str, Any]) -> dict[str, User]:
    """Tokens from configuration: ``{token: "user"}`` or ``{token: {"user": "u",
    "admin": true}}``. ValueError names the first bad entry (without the token)."""
    out: dict[str, User] = {}
    for i, (token, value) in enumerate(doc.items()):
        if not isinstance(token, str) or not token:
            raise ValueError(f"token #{i}: empty or not a string")
        if isinstance(value, str):
            user = User(value)
        elif isinstance(value, Mapping):
            user = User(str(value.get("user", "")), bool(value.get("admin", False)))
        else:
            raise ValueError(f"token #{i}: expected a user name or {{user, admin}}")
        if not valid_user_name(user.name):
            raise ValueError(f"token #{i}: user {user.name!r} is not a valid label value")
        out[token] = user
    return out


def tokens_from_file(path: str | os.PathLike[str]) -> dict[str, User]:
    """Tokens from a YAML (or JSON) file holding the mapping of
    :func:`tokens_from_mapping`, e.g. ``{t-alice: alice, t-root: {user: root, admin:
    true}}``."""
    doc = yaml.safe_load(pathlib.Path(path).read_text()) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping of tokens to users")
    return tokens_from_mapping(doc)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    """Maps bearer tokens to users (see the module docstring)."""

    def __init__(self, tokens: Mapping[str, User]) -> None:
        for user in tokens.values():
            if not valid_user_name(user.name):
                raise ValueError(f"user {user.name!r} is not a valid label value")
        self._by_digest = {_digest(token): user for token, user in tokens.items()}

    def user_for(self, token: str) -> User | None:
        """The user of ``token``, or None for an unknown token."""
        return self._by_digest.get(_digest(token))

    def authenticate(self, authorization: str | None) -> User:
        """The user of an ``Authorization`` header value; HTTP 401 otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        user = self.user_for(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user


# The dependencies are coroutines although they never wait: FastAPI runs a plain ``def``
# dependency in its thread pool, two thread hand-offs per request that cost heartbeats
# about 15% of their latency (docs/benchmarks.md). A dictionary lookup needs no thread.


async def current_user(request: Request) -> User:
    """FastAPI dependency: the authenticated user (401 otherwise)."""
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.authenticate(request.headers.get("authorization"))


async def admin_user(request: Request) -> User:
    """FastAPI dependency: the authenticated user, who must be an admin (403 otherwise)."""
    user = await current_user(request)
    if not user.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this endpoint needs the admin role")
    return user
