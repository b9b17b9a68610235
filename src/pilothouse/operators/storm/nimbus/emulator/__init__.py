"""A Nimbus emulator: Storm 2.x's Nimbus Thrift service, without Storm.

It speaks the same IDL (``idl``) over the same transport (``wire``: framed,
binary, 1 MiB frames) as a real Nimbus, so the native client is tested against
the real protocol, benchmarks measure real uploads, and ``pilothouse up`` has a
Nimbus to talk to. It keeps the observable rules a client depends on (leader
only writes, Storm's error messages, topology ids and status transitions, slot
accounting, upload sessions and their expiry, blob downloads) and nothing else:
no workers run, and JARs are stored, never loaded.

Modules, one concept each:

- ``config``: ``EmulatorConfig``, with Storm's defaults.
- ``validation``: what Nimbus checks in a submission (name, conf, structure).
- ``scheduler``: supervisors, worker slots, executor placement.
- ``state``: topologies, status transitions with persisted deadlines, ids.
- ``store``: ``state.json`` (atomic replace) and per-topology files.
- ``inbox``: JAR uploads and their expiry; ``downloads``: blob download sessions.
- ``leadership``: the leader lock, the follower's watch, the peer list.
- ``core``: ``EmulatedNimbus``, the above put together, per role.
- ``views``: state as Thrift structs; ``handler``: one function per Thrift method.
- ``dispatch``: a request frame in, its reply frame out (errors mapped as Java does).
- ``framing``: one client connection: frames read into one reused buffer,
  handed to ``dispatch`` in order without a copy, replies flow-controlled.
- ``server``: ``EmulatorServer``, the asyncio TCP server.

Run it with ``pilothouse storm nimbus-emulator``, or in tests with
``pilothouse.testing.nimbus`` (in-process ``running_emulator``, or
``EmulatorProcess`` for a real process that can be killed).
"""
