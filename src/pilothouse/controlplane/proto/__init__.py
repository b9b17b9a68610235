"""The control plane's gRPC contract: ``controlplane.proto`` and the Python code generated
from it by the build (``make proto``, which ``make up`` and ``make test`` run; or
``python -m pilothouse.controlplane.proto.generate``). The generated ``controlplane_pb2``,
``controlplane_pb2.pyi`` and ``controlplane_pb2_grpc`` modules are not committed.

Code outside this package goes through :mod:`pilothouse.controlplane.wire` (typed access to
the generated stubs) rather than importing them directly.
"""
