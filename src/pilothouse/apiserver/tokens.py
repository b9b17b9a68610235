"""Bearer tokens: the admin token and ServiceAccount tokens (TokenRequest).

The server has one administrator token (in the kubeconfig it writes). ``kubectl create
token`` and pods' projected tokens use the TokenRequest API; the tokens it mints are signed
with an HMAC key derived from the admin token, so they survive restarts of a server with a
state directory and need no storage. They are not JWTs: no client needs to read them.

There is no authorization layer: every authenticated user may do everything, as a
single-user development cluster. (Access reviews answer ``allowed: true`` accordingly.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

import orjson

_PREFIX = "ph1"


@dataclass(frozen=True)
class User:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict)

    def info(self) -> dict[str, object]:
        out: dict[str, object] = {"username": self.username, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        return out


ADMIN = User("pilothouse-admin", groups=("system:masters", "system:authenticated"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(admin_token: str) -> bytes:
    return hashlib.sha256(b"pilothouse-serviceaccount-tokens\x00" + admin_token.encode()).digest()


def mint(
    admin_token: str, namespace: str, name: str, uid: str, audiences: list[str], expires_at: float
) -> str:
    """A token for ServiceAccount ``namespace/name`` valid until ``expires_at`` (epoch s)."""
    claims = _b64(
        orjson.dumps(
            {"ns": namespace, "sa": name, "uid": uid, "aud": audiences, "exp": int(expires_at)}
        )
    )
    sig = _b64(hmac.new(_key(admin_token), claims.encode(), hashlib.sha256).digest())
    return f"{_PREFIX}.{claims}.{sig}"


def authenticate(admin_token: str, token: str, now: float | None = None) -> User | None:
    """The user a bearer token stands for, or None."""
    if hmac.compare_digest(token.encode(), admin_token.encode()):
        return ADMIN
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX:
        return None
    expected = _b64(hmac.new(_key(admin_token), parts[1].encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        return None
    try:
        claims = orjson.loads(_unb64(parts[1]))
        ns, sa, exp = str(claims["ns"]), str(claims["sa"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    if exp < (time.time() if now is None else now):
        return None
    return User(
        f"system:serviceaccount:{ns}:{sa}",
        uid=str(claims.get("uid", "")),
        groups=("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"),
    )
