"""Names and small models shared by the sessions API group's resources.

Everything the Session, SessionTemplate and SessionQuota schemas have in common lives here
(the API group, the label and annotation keys, environment variables, resource
requirements, ports), so the three resource modules do not import one another and a
change to, say, how resources are written changes every kind at once.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from pilothouse import crd

__all__ = [
    "ANNOTATION_WAKE_REQUESTED_AT",
    "GROUP",
    "LABEL_SESSION",
    "LABEL_USER",
    "VERSION",
    "EnvVar",
    "Port",
    "ResourceRequirements",
]

GROUP = "sessions.pilothouse.dev"
VERSION = "v1alpha1"

#: On every object a session owns (and on its pods): the Session's name. The Deployment's
#: selector and the Service's selector use it, and the controller finds pods by it.
LABEL_SESSION = f"{GROUP}/session"
#: The session's user, on the same objects, for ``kubectl get pods -l`` and quota lookups.
LABEL_USER = f"{GROUP}/user"
#: Set by the sessions API when a connection to a hibernated session arrives: an RFC 3339
#: time. The controller wakes the session when it is newer than ``status.hibernatedAt``.
#: Living on the Session, the signal survives a controller that is down when it is sent.
ANNOTATION_WAKE_REQUESTED_AT = f"{GROUP}/wake-requested-at"


class EnvVar(crd.Model):
    """An environment variable of the session's container."""

    name: Annotated[str, Field(min_length=1)]
    value: str = ""


class ResourceRequirements(crd.Model):
    """CPU and memory (or any resource) requests and limits, as in a container spec."""

    requests: dict[str, crd.IntOrString] | None = None
    """Resources reserved for the session, e.g. ``{"cpu": "500m", "memory": "1Gi"}``."""
    limits: dict[str, crd.IntOrString] | None = None
    """The most the session may use."""


class Port(crd.Model):
    """A port the session's container listens on; the first one is the session's URL."""

    name: Annotated[str, Field(min_length=1, max_length=15)] = "http"
    container_port: Annotated[int, Field(ge=1, le=65535)] = 8080
