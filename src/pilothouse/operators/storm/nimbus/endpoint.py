"""Nimbus addresses: ``host:port`` parsed once, with Storm's default port."""

from __future__ import annotations

import dataclasses
import ipaddress

#: ``nimbus.thrift.port``'s default.
DEFAULT_PORT = 6627


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """One Nimbus: where its Thrift server listens."""

    host: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``host``, ``host:port`` or ``[v6]:port``; a clear ``ValueError`` for anything else."""
        raw = text.strip()
        if not raw:
            raise ValueError("empty Nimbus address")
        host, port_text = raw, ""
        if raw.startswith("["):
            close = raw.find("]")
            if close < 0:
                raise ValueError(f"bad Nimbus address {text!r}: unclosed '['")
            host, rest = raw[1:close], raw[close + 1 :]
            if rest and not rest.startswith(":"):
                raise ValueError(f"bad Nimbus address {text!r}")
            port_text = rest[1:]
        elif raw.count(":") == 1:
            host, port_text = raw.split(":")
        elif ":" in raw:
            # Several colons and no brackets: only a bare IPv6 address makes sense.
            try:
                ipaddress.IPv6Address(raw)
            except ValueError:
                raise ValueError(
                    f"bad Nimbus address {text!r}: write IPv6 addresses as [addr]:port"
                ) from None
        if not host:
            raise ValueError(f"bad Nimbus address {text!r}: no host")
        if not port_text:
            return cls(host)
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad Nimbus address {text!r}: port must be 1-65535")
        return cls(host, int(port_text))
