"""The sessions operator: every session controller, as one ``runtime.operator.Operator``.

``OPERATOR`` is what ``pilothouse run`` and ``pilothouse up`` load (the
``pilothouse.operators`` entry point ``sessions``): the Session lifecycle controller
(``operator_setup``, ``lifecycle``) and the NodeOperation controller (``nodeops``),
with the CRDs of all four resources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pilothouse.operators.sessions import nodeops, operator_setup
from pilothouse.runtime import operator

if TYPE_CHECKING:
    from pilothouse.runtime import manager as manager_mod


def setup(mgr: manager_mod.Manager) -> None:
    """Register the session and node-operation controllers on ``mgr``."""
    operator_setup.setup(mgr)
    nodeops.setup(mgr)


OPERATOR = operator.Operator("sessions", setup, crds=[*operator_setup.CRDS, *nodeops.CRDS])
