"""The sessions API's configuration (:class:`Settings`) and the state its routes share
(:class:`APIState`, ``app.state.api``), apart from :mod:`.app` so that the route modules
can name them without importing the app that includes them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pilothouse.client import client as client_mod
from pilothouse.operators.sessions.api import auth, db, heartbeats, sessionstream

__all__ = [
    "DEFAULT_DATABASE_URL",
    "FIELD_MANAGER",
    "APIState",
    "Settings",
    "system_wall_clock",
]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///pilothouse-sessions.db"
#: The field manager of every write the API makes (``kubectl get -o yaml
#: --show-managed-fields`` tells the API's fields from the controller's).
FIELD_MANAGER = "pilothouse-sessions-api"


@dataclass(frozen=True)
class Settings:
    """Configuration of the sessions API."""

    tokens: Mapping[str, auth.User] = field(default_factory=dict)
    """Bearer token → user (see :func:`.auth.tokens_from_mapping`)."""
    namespace: str = "default"
    """Where sessions (and the templates offered) live."""
    database_url: str = DEFAULT_DATABASE_URL
    """An SQLAlchemy async URL (``sqlite+aiosqlite:///file``, ``postgresql+asyncpg://``)."""
    heartbeat_interval: float = 10.0
    """At most one ``lastActivity`` write per session per this many seconds."""
    kubeconfig: str | None = None
    """For :func:`serve` (None: ``$KUBECONFIG``, in-cluster, ``~/.kube/config``)."""
    context: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass
class APIState:
    """What the routes share (``app.state.api``)."""

    settings: Settings
    kube: client_mod.Client
    database: db.Database
    flusher: heartbeats.HeartbeatFlusher
    wall_clock: Callable[[], datetime]
    owners: dict[heartbeats.Key, str] = field(default_factory=dict)
    """Session → user, for sessions seen through this API: a heartbeat is checked against
    it rather than by reading the Session each time (a session's user never changes)."""
    session_stream: sessionstream.SessionStream | None = None
    """The shared watch behind ``/api/v1/ws/sessions`` (:mod:`.routes_ws`)."""

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def now(self) -> datetime:
        return self.wall_clock()


def system_wall_clock() -> datetime:
    return datetime.now(UTC)
