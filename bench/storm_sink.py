"""A raw TCP sink for the upload benchmark's baseline: bytes in, nothing else.

Run as ``python -m bench.storm_sink``: it prints its port, then for each connection
reads until end of stream into one reused buffer (no allocation per read, no parsing,
no disk), answers the byte count as 8 bytes, and closes. One thread per connection;
the benchmark makes one at a time. This is the ceiling the Thrift upload is compared
with: the same bytes, between the same two kinds of process, over the same loopback.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading


def _drain(conn: socket.socket) -> None:
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    total = 0
    with conn:
        while True:
            n = conn.recv_into(view)
            if n == 0:
                break
            total += n
        conn.sendall(struct.pack(">q", total))


def main() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        print(server.getsockname()[1], flush=True)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=_drain, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
