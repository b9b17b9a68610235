"""The server's shared state, handed to every request handler and internal controller."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pilothouse.apiserver import resources, typeregistry
from pilothouse.apiserver.store import store as store_mod

if TYPE_CHECKING:
    from pilothouse.apiserver import admission


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def format_time(t: datetime.datetime) -> str:
    """RFC 3339 at second precision, as ``metav1.Time`` serialises."""
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(t: datetime.datetime) -> str:
    """RFC 3339 with microseconds, as ``metav1.MicroTime`` serialises."""
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ServerState:
    store: store_mod.Store
    types: typeregistry.TypeRegistry
    admission: admission.Dispatcher | None = None
    clock: Callable[[], datetime.datetime] = utc_now
    new_uid: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))
    #: The token clients authenticate with; "" disables authentication.
    token: str = ""
    #: Pods bound to a node are deleted gracefully (a simulated kubelet finishes the job).
    graceful_pods: bool = False
    #: Seconds between BOOKMARK events on watches that allow them.
    bookmark_interval: float = 60.0
    #: Whether a custom resource's CRD is being deleted (set by the CRD controller).
    crd_terminating: Callable[[resources.ResourceType], bool] = lambda _rt: False
    #: Called before an eviction deletes its pod; raises ApiError 429 to refuse it (the
    #: simulated cluster checks PodDisruptionBudgets here).
    eviction_check: Callable[[ServerState, dict[str, Any]], Awaitable[None]] | None = None
    #: Where the search for a free Service cluster IP starts (see rest.kindhooks).
    next_service_ip: int = 0
    #: Cluster IPs of committed Services (None until first needed; see rest.kindhooks).
    service_ips: set[str] | None = None

    def now(self) -> str:
        return format_time(self.clock())
