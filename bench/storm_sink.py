"""A raw TCP sink for the upload benchmark's baseline: bytes in, nothing else.

Run as ``python -m bench.storm_sink [DIR]``: it prints its port, then for each
connection reads until end of stream into one reused buffer (no allocation per read, no
parsing), answers the byte count as 8 bytes, and closes. Without ``DIR`` the bytes are
dropped; with it they are written to a new file there (then deleted), as the emulator
stores an upload: the same disk work, without the protocol. One thread per connection;
the benchmark makes one at a time. This is the ceiling the Thrift upload is compared
with: the same bytes, between the same two kinds of process, over the same loopback.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import tempfile
import threading


def _drain(conn: socket.socket, directory: str | None) -> None:
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    total = 0
    fd, path = (-1, "") if directory is None else tempfile.mkstemp(dir=directory)
    try:
        with conn:
            while True:
                n = conn.recv_into(view)
                if n == 0:
                    break
                if fd >= 0:
                    written = 0
                    while written < n:
                        written += os.write(fd, view[written:n])
                total += n
            conn.sendall(struct.pack(">q", total))
    finally:
        if fd >= 0:
            os.close(fd)
            os.unlink(path)


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else None
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=_drain, args=(conn, directory), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
