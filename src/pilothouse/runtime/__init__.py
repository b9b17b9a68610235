"""The operator runtime: controller-runtime semantics in Python.

Reconcilers are level-triggered: they are told *which* object to look at
(:mod:`~pilothouse.runtime.reconcile`), read the world from a shared informer cache
(:mod:`~pilothouse.runtime.cache`), and return a :class:`~pilothouse.runtime.reconcile.Result`.
A rate-limited work queue (:mod:`~pilothouse.runtime.workqueue`) feeds each controller
(:mod:`~pilothouse.runtime.controller`), built with :mod:`~pilothouse.runtime.builder` and
run by a :mod:`~pilothouse.runtime.manager` together with leader election
(:mod:`~pilothouse.runtime.leader`), webhooks (:mod:`~pilothouse.runtime.webhook`), metrics
(:mod:`~pilothouse.runtime.metrics`) and probes.
"""
