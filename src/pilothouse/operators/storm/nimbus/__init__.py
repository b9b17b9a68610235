"""A native Thrift client for Apache Storm's Nimbus, and a Nimbus emulator.

Where to look, bottom up:

- ``storm.thrift`` / ``idl``: the part of Storm 2.x's IDL we speak, exact field ids.
- ``wire``: framed binary-protocol frames; ``connection``: one TCP connection.
- ``errors``: every failure as a typed error, split into *rejected* (Nimbus said
  no) and *unavailable* (transient; may be retried).
- ``breaker``, ``retry``, ``pool``: per-endpoint circuit breakers, backoff, and
  the per-cluster connection pool; ``slots``: one endpoint's pooled connections;
  ``discovery`` finds and follows the leader; ``registry`` keeps one pool per
  cluster.
- ``upload``, ``jarcache``: JAR upload in constant memory with progress and
  sha256 checks (``fingerprint``), blob download (``download``), and the cache
  that avoids uploading the same JAR twice.
- ``topology``: a declarative topology description turned into the
  ``StormTopology`` Nimbus accepts; ``topologycheck`` holds its validation rules,
  ``topologyfile`` reads it from YAML or JSON.
- ``model``: typed views of Nimbus's answers; ``client``: ``NimbusClient``,
  every topology operation, the entry point for controllers and the CLI; it
  leaves the JAR flows to ``jars`` and the check-before-repeat rule for
  ``submit``/``kill``/``rebalance`` to ``checked``.
- ``emulator``: a Nimbus that speaks the same protocol, for tests and local runs.
"""
