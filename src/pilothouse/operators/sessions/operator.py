"""The sessions operator: every session controller, as one ``runtime.operator.Operator``.

``OPERATOR`` is what ``pilothouse run`` and ``pilothouse up`` load (the
``pilothouse.operators`` entry point ``sessions``): the Session lifecycle controller
(``operator_setup``, ``lifecycle``), the NodeOperation controller (``nodeops``) and the
Session admission webhooks (``admission``: quota, defaults), with the CRDs of all four
resources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pilothouse.operators.sessions import admission, nodeops, operator_setup
from pilothouse.runtime import operator

if TYPE_CHECKING:
    from pilothouse.runtime import manager as manager_mod


def setup(mgr: manager_mod.Manager) -> None:
    """Register the session and node-operation controllers and the Session admission
    webhooks (quota, defaults) on ``mgr``."""
    operator_setup.setup(mgr)
    nodeops.setup(mgr)
    admission.setup_webhooks(mgr)


OPERATOR = operator.Operator("sessions", setup, crds=[*operator_setup.CRDS, *nodeops.CRDS])
