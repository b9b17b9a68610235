"""The simulated cluster: what kube-controller-manager, the scheduler and kubelets would do,
run inside the embedded API server (in the spirit of KWOK: no containers run, but objects move
through the states a real cluster gives them).

* :mod:`.base` -- :class:`~.base.Controller`, the level-triggered base every simulated
  controller builds on, and :class:`~.base.SimulationConfig`.
* :mod:`.cluster` -- :class:`~.cluster.Simulation`: starts and stops the controllers.

It lives beside the API server and never in operator code; ``--no-simulation`` turns it off
(envtest-like).
"""
