"""The ``SessionTemplate`` resource: what a session runs unless it says otherwise.

A template is a named, reusable image with default resources, ports and environment; the
sessions API lists templates, a Session names one in ``spec.template``, and the lifecycle
controller merges it under the Session's own fields (:func:`.workload.resolve`). A template
has no status: it is configuration, nothing reconciles it. Changing a template changes
every session using it at its next reconcile (their Deployments are re-applied), which is
what an administrator rolling out a new image wants.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from pilothouse import crd
from pilothouse.operators.sessions import common

__all__ = ["SessionTemplate", "SessionTemplateSpec"]


class SessionTemplateSpec(crd.Model):
    image: Annotated[str, Field(min_length=1)]
    """The container image."""
    display_name: str | None = None
    description: str | None = None
    resources: common.ResourceRequirements | None = None
    """Default resources of sessions from this template."""
    ports: list[common.Port] = Field(default_factory=lambda: [common.Port()])
    """Ports the image listens on; the first is the session's URL."""
    env: list[common.EnvVar] = Field(default_factory=list)
    """Default environment variables."""


class SessionTemplate(
    crd.CustomResource,
    group=common.GROUP,
    version=common.VERSION,
    kind="SessionTemplate",
    short_names=("stpl",),
    categories=("sessions",),
    printer_columns=(crd.PrinterColumn("Image", "string", ".spec.image"), crd.AGE),
):
    """A session template: image, default resources, ports, env."""

    spec: SessionTemplateSpec
