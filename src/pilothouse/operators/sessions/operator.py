"""The sessions operator: every session controller, as one ``runtime.operator.Operator``.

``OPERATOR`` is what ``pilothouse run`` and ``pilothouse up`` load (the
``pilothouse.operators`` entry point ``sessions``): the Session lifecycle controller
(``operator_setup``, ``lifecycle``), the NodeOperation controller (``nodeops``) and the
Session admission webhooks (``admission``: quota, defaults), with the CRDs of all four
resources.

Configuration is by environment, as for any operator in a Deployment:

* ``PILOTHOUSE_SESSIONS_DATABASE_URL`` names the sessions API's database, whose records of
  a Session a finalizer deletes with it (:mod:`.records`);
* ``PILOTHOUSE_SESSIONS_IDLE_GRACE`` (a Go duration, default ``60s``) is how long past its
  ``idleTimeout`` an idle session may run before it is hibernated.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from pilothouse.operators.sessions import (
    admission,
    duration,
    lifecycle,
    nodeops,
    operator_setup,
    records,
)
from pilothouse.runtime import operator

if TYPE_CHECKING:
    from pilothouse.runtime import manager as manager_mod


def setup(mgr: manager_mod.Manager) -> None:
    """Register the session and node-operation controllers and the Session admission
    webhooks (quota, defaults) on ``mgr``.

    Raises ``OperatorError`` when the environment's configuration is unusable (see the
    module docstring)."""
    try:
        grace = _idle_grace(os.environ.get(ENV_IDLE_GRACE, ""))
        store = records.from_environment()
    except ValueError as exc:
        raise operator.OperatorError(f"operator sessions: {exc}") from exc
    if store is not None:
        mgr.add_runnable(_closing(store), needs_leader=False)
    operator_setup.setup(mgr, lifecycle.SessionOptions(idle_grace=grace, records=store))
    nodeops.setup(mgr)
    admission.setup_webhooks(mgr)


#: The environment variable for ``SessionOptions.idle_grace`` (a Go duration).
ENV_IDLE_GRACE = "PILOTHOUSE_SESSIONS_IDLE_GRACE"


def _idle_grace(text: str) -> float:
    if not text.strip():
        return lifecycle.DEFAULT_IDLE_GRACE
    try:
        return duration.parse_duration(text.strip())
    except duration.DurationError as exc:
        raise ValueError(f"{ENV_IDLE_GRACE}: {exc}") from exc


def _closing(store: records.RecordStore) -> manager_mod.Runnable:
    """A runnable holding ``store`` open for the manager's life, closing it at shutdown."""

    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await store.close()

    return hold


OPERATOR = operator.Operator("sessions", setup, crds=[*operator_setup.CRDS, *nodeops.CRDS])
