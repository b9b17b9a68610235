"""Which controllers make up the simulated cluster."""

from __future__ import annotations

from pilothouse.apiserver import state
from pilothouse.apiserver.simulation import (
    autoscaling,
    base,
    cronjobs,
    daemonsets,
    deployments,
    disruption,
    endpoints,
    jobs,
    kubelet,
    nodes,
    replicasets,
    scheduler,
    statefulsets,
    volumes,
)

#: The controllers of the simulated cluster, in start order.
CONTROLLERS: tuple[type[base.Controller], ...] = (
    nodes.NodeController,
    volumes.VolumeController,
    statefulsets.StatefulSetController,
    daemonsets.DaemonSetController,
    scheduler.Scheduler,
    kubelet.Kubelet,
    disruption.DisruptionController,
    replicasets.ReplicaSetController,
    deployments.DeploymentController,
    jobs.JobController,
    cronjobs.CronJobController,
    endpoints.EndpointsController,
    endpoints.EndpointSliceController,
    autoscaling.HorizontalPodAutoscalerController,
)


def controllers(
    st: state.ServerState,
    config: base.SimulationConfig,
    only: tuple[type[base.Controller], ...] | None = None,
) -> list[base.Controller]:
    """The simulated cluster's controllers (or ``only`` these), ready to start."""
    # A simulated kubelet finishes what a graceful pod deletion starts.
    st.graceful_pods = True
    return [cls(st, config) for cls in (CONTROLLERS if only is None else only)]
