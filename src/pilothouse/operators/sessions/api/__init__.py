"""The sessions API (issue 7): a thin FastAPI service in front of the session controllers.

The API never writes a workload. It only:

* creates Sessions and NodeOperations (the controllers do the rest);
* changes a Session's desired ``spec.state`` (hibernate, resume, terminate);
* writes ``status.lastActivity`` (heartbeats, coalesced: :mod:`.heartbeats`) and the
  wake annotation (a connection to a hibernated session);
* records connections in its own database (:mod:`.db`, schema by Alembic migrations run
  at startup).

Reads (sessions, templates, nodes) answer from the objects' status, including
``lastReconcileTime`` so that clients can tell how fresh the controller's view is.

Modules: :mod:`.app` (``create_app``, ``serve``), :mod:`.state` (``Settings`` and the
state the routes share), :mod:`.auth` (bearer tokens mapped to users, the admin role),
:mod:`.schemas` (request and response bodies), :mod:`.deps` (API-server errors → HTTP),
:mod:`.routes_sessions`, :mod:`.routes_admin` (templates, nodes, node operations),
:mod:`.heartbeats` (coalescing), :mod:`.routes_ws` and :mod:`.sessionstream` (the
WebSocket of session changes: one shared watch fanned out to each user's sockets),
:mod:`.db` and ``migrations/``.

The dashboard (:mod:`.dashboard`, files in ``static/``) is served by the same app.
Records of deleted sessions are cleaned by the operator's finalizer
(:mod:`pilothouse.operators.sessions.records`).
"""
