"""Generate the Python gRPC code for ``controlplane.proto`` (``make proto`` runs this).

Generated next to the ``.proto`` with import paths rooted at ``src``, so the stubs import
each other as ``pilothouse.controlplane.proto.controlplane_pb2``.
"""

from __future__ import annotations

import pathlib
import sys


def generate() -> None:
    from grpc_tools import protoc  # a build-time dependency (grpcio-tools)

    here = pathlib.Path(__file__).resolve().parent
    src = here.parents[2]
    proto = here / "controlplane.proto"
    include = pathlib.Path(protoc.__file__).parent / "_proto"  # well-known types
    args = [
        "protoc",
        f"-I{src}",
        f"-I{include}",
        f"--python_out={src}",
        f"--pyi_out={src}",
        f"--grpc_python_out={src}",
        str(proto.relative_to(src)),
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed ({code}) on {proto}")


if __name__ == "__main__":
    generate()
    sys.exit(0)
