"""Picking free TCP ports on 127.0.0.1: for local etcd members (``--dev`` control planes),
and for every test kit, test and benchmark that starts a server on a port of its choosing.

The kernel chooses: each port comes from binding ``127.0.0.1:0``. All ``n`` sockets are held
open until every port is chosen, so the ports are distinct; they are closed before returning,
so there is an unavoidable window in which another process may take one. A member whose port
was stolen fails to bind and exits, which its supervisor reports, so callers that can retry
on a fresh set of ports should.
"""

from __future__ import annotations

import contextlib
import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """One TCP port that was free on ``host`` a moment ago (see the module docstring)."""
    return free_ports(1, host)[0]


def free_ports(n: int, host: str = LOOPBACK) -> list[int]:
    """Return ``n`` distinct TCP ports that were free on ``host`` a moment ago."""
    if n < 0:
        raise ValueError(f"cannot pick a negative number of ports ({n})")
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(n):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports
