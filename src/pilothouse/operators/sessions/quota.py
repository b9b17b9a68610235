"""The ``SessionQuota`` resource: how much one user, and one namespace, may run.

A namespace's SessionQuota sets limits per user (``perUser``: every user in the namespace
gets these) and for the namespace as a whole (``perNamespace``), each on the number of
running sessions, CPU, memory and home storage. This module is the model; the validating
admission webhook that enforces it (``admission``, with the arithmetic in ``quotacheck``)
answers from cached quotas and usage and names the limit, the usage and the request in its
denial. Unset limits are unlimited; a limit of zero forbids.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from pilothouse import crd
from pilothouse.operators.sessions import common

__all__ = ["QuotaLimits", "SessionQuota", "SessionQuotaSpec"]


class QuotaLimits(crd.Model):
    sessions: Annotated[int, Field(ge=0)] | None = None
    """Sessions whose desired state is running (so resuming one can be refused)."""
    cpu: crd.IntOrString | None = None
    """Total CPU requests of running sessions (a quantity)."""
    memory: crd.IntOrString | None = None
    """Total memory requests of running sessions (a quantity)."""
    storage: crd.IntOrString | None = None
    """Total home storage of sessions that have one (a quantity)."""


class SessionQuotaSpec(crd.Model):
    per_user: QuotaLimits | None = None
    """Limits applying to each user separately."""
    per_namespace: QuotaLimits | None = None
    """Limits on the namespace's sessions together."""


class SessionQuota(
    crd.CustomResource,
    group=common.GROUP,
    version=common.VERSION,
    kind="SessionQuota",
    short_names=("squota",),
    categories=("sessions",),
):
    """Session limits for a namespace, per user and in total."""

    spec: SessionQuotaSpec
