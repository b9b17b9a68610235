"""The embedded, durable, Kubernetes-API-compatible API server (``pilothouse cluster up``).

Start at :mod:`~pilothouse.apiserver.server` (:class:`APIServer`, :class:`ServerConfig`), then:

* requests: :mod:`.app` (HTTP, auth, routing) → :mod:`.requestinfo` (URL parsing) →
  :mod:`.rest` (one module per verb family: writes, patching, deletion, reads, watching,
  subresources);
* what is served: :mod:`.resources` (:class:`ResourceType`), :mod:`.catalog` (built-ins from
  lightkube-models), :mod:`.typeregistry`, :mod:`.crds` (custom resources);
* semantics: :mod:`.schemas` (type schemas), :mod:`.patch`, :mod:`.apply` (server-side apply),
  :mod:`.structural` (CRD validation, defaulting, pruning, CEL), :mod:`.builtin` (defaults and
  validation of built-in kinds), :mod:`.admission` (webhooks), :mod:`.fieldselectors`;
* presentation: :mod:`.discovery`, :mod:`.openapi`, :mod:`.tables`, :mod:`.printers`;
* state: :mod:`.store` (memory + SQLite, watch fan-out), :mod:`.gc` (garbage collector),
  :mod:`.namespaces` (namespace termination), :mod:`.workers` (their work queue).

The API server depends on no runtime, client or operator code (an import-linter contract).
"""
