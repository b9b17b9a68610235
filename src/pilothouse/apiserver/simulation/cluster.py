"""Which controllers make up the simulated cluster."""

from __future__ import annotations

from pilothouse.apiserver import state
from pilothouse.apiserver.simulation import base

#: The controllers of the simulated cluster, in start order.
CONTROLLERS: tuple[type[base.Controller], ...] = ()


def controllers(st: state.ServerState, config: base.SimulationConfig) -> list[base.Controller]:
    """The simulated cluster's controllers, ready to start."""
    # A simulated kubelet finishes what a graceful pod deletion starts.
    st.graceful_pods = True
    return [cls(st, config) for cls in CONTROLLERS]
