"""Workspace sessions (API group ``sessions.pilothouse.dev``): the operator behind the
sessions API (issue 7).

A Session is one user's workspace: a Deployment (one replica running, zero hibernated), a
Service and, optionally, a persistent home claim, all owned by the Session. The API only
creates Sessions and changes their desired state; controllers do every other Kubernetes
write. Where to look:

* resources -- :mod:`.session` (``Session``: spec, status, printer columns),
  :mod:`.template` (``SessionTemplate``), :mod:`.quota` (``SessionQuota``),
  :mod:`.common` (group, labels, the wake annotation, shared models), :mod:`.duration`
  (Go-style durations);
* admission -- :mod:`.admission` (the validating quota and mutating defaults webhooks),
  :mod:`.quotacheck` (quantities and quota arithmetic), :mod:`.defaults` (template and
  namespace defaults);
* the session controllers -- :mod:`.operator_setup` (``setup(mgr)`` and ``CRDS``: the
  entry point) and :mod:`.lifecycle` (the reconciler: workload, status, idle hibernation,
  wake-up), built on pure modules that hold the decisions: :mod:`.workload` (what a
  session runs, as objects), :mod:`.phase` (the phase from what the cluster reports),
  :mod:`.idle` (when a session stops by itself);
* node maintenance -- :mod:`.nodeoperation` (the ``NodeOperation`` resource),
  :mod:`.nodeops` (its controller: cordon, labels, taints, drain through the Eviction
  API) and :mod:`.drain` (the pure decisions: which pods to evict, skip or refuse);
* :mod:`.operator` -- ``OPERATOR``, all of the above as one operator: the
  ``pilothouse.operators`` entry point ``sessions``, run by ``pilothouse run`` and
  ``pilothouse up``;
* :mod:`.api` -- the sessions API (FastAPI): it creates Sessions and NodeOperations,
  records heartbeats and connections, and reads status; ``pilothouse sessions-api``;
* :mod:`.records` -- the finalizer's side of the API's database: a deleted Session's
  records go with it.

docs/sessions.md describes all of it.

This package imports the runtime's public modules only, never another operator.
"""
