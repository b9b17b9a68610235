"""Finding the etcd peers a control-plane replica bootstraps with.

Two sources, both producing the same thing -- a mapping ``member name -> peer URL`` that
becomes etcd's ``--initial-cluster``:

* a static list (``--peers a=http://10.0.0.1:2380,b=http://10.0.0.2:2380``), parsed by
  :func:`parse_static_peers`, which rejects anything etcd would reject later with a worse
  message (duplicate names or URLs, bad schemes, missing ports, paths);
* Kubernetes DNS for a StatefulSet behind a headless Service (:func:`discover_dns`).

DNS discovery
-------------
StatefulSet pods have stable hostnames ``<statefulset>-<ordinal>`` and stable DNS names
``<pod>.<service-fqdn>``, whatever IP they get after a reschedule. The peers are therefore
*computed*, not listed: ``{sts}-{i} -> http://{sts}-{i}.{service}:{port}`` for every ordinal
below ``replicas`` (:func:`statefulset_peers`), the convention k3s and the etcd operators use.
Peer URLs keep the hostnames, never the resolved IPs, because etcd stores peer URLs in its
membership and a pod's IP does not survive a reschedule.

:func:`discover_dns` only waits until every one of those names resolves, so that etcd does not
start with an initial cluster it cannot reach yet. Two consequences for the manifests: the
Service must be headless (``clusterIP: None``) and must set ``publishNotReadyAddresses:
true`` -- a pod becomes Ready only after etcd has quorum, so without it the records the
bootstrap waits for would never appear. The StatefulSet should use ``podManagementPolicy:
Parallel`` for the same reason.

This module does no network traffic of its own: the only I/O is the resolver, which is
injectable (``async (hostname) -> list[str]``) so tests never touch real DNS. The default is
the event loop's ``getaddrinfo`` (IPv4 only, like etcd's peer listeners here).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping

Resolver = Callable[[str], Awaitable[list[str]]]
"""``async (hostname) -> addresses``; an empty list or an ``OSError`` means "not yet"."""

MEMBER_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?")
MAX_MEMBER_NAME = 253


class DiscoveryTimeout(TimeoutError):
    """Not every expected peer hostname resolved before the deadline."""

    def __init__(self, message: str, unresolved: list[str]) -> None:
        super().__init__(message)
        self.unresolved = unresolved


def validate_member_name(name: str) -> str:
    """Return ``name`` if it is a valid etcd member name here, else raise ``ValueError``.

    etcd itself accepts almost anything, but names travel in ``--initial-cluster`` (where ``=``
    and ``,`` are syntax) and in file names, so they are kept to ``[A-Za-z0-9._-]``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("member name must be a non-empty string")
    if len(name) > MAX_MEMBER_NAME:
        raise ValueError(f"member name is longer than {MAX_MEMBER_NAME} characters: {name!r}")
    if not MEMBER_NAME_RE.fullmatch(name):
        raise ValueError(f"member name {name!r} may only contain letters, digits, '.', '_', '-'")
    return name


def validate_peer_url(url: str) -> str:
    """Return ``url`` normalised (no trailing ``/``) if it is a usable peer URL.

    A peer URL is ``http(s)://host:port``: an explicit port (etcd has a default, but two
    replicas disagreeing about it is a split cluster), no credentials, path, query or fragment.
    """
    if not isinstance(url, str) or not url:
        raise ValueError("peer URL must be a non-empty string")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid peer URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"peer URL {url!r} must use http:// or https://")
    if not parts.hostname:
        raise ValueError(f"peer URL {url!r} has no host")
    if port is None:
        raise ValueError(f"peer URL {url!r} has no port")
    if port == 0:
        raise ValueError(f"peer URL {url!r} has port 0")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"peer URL {url!r} must not carry credentials")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"peer URL {url!r} must not have a path, query or fragment")
    return f"{parts.scheme}://{parts.netloc}"


def parse_static_peers(spec: str) -> dict[str, str]:
    """Parse ``"a=http://127.0.0.1:2380,b=http://127.0.0.1:2381"`` into ``{name: url}``.

    Whitespace around entries is ignored; empty entries, duplicate names and duplicate URLs
    are errors (etcd would refuse both duplicates, later and less clearly).
    """
    if not spec.strip():
        raise ValueError("peer list is empty")
    peers: dict[str, str] = {}
    owners: dict[str, str] = {}
    for position, raw in enumerate(spec.split(","), start=1):
        entry = raw.strip()
        if not entry:
            raise ValueError(f"peer list entry {position} is empty")
        name, sep, url = entry.partition("=")
        if not sep:
            raise ValueError(f"peer list entry {entry!r} is not of the form name=url")
        name = validate_member_name(name.strip())
        url = validate_peer_url(url.strip())
        if name in peers:
            raise ValueError(f"peer name {name!r} appears more than once")
        if url in owners:
            raise ValueError(f"peer URL {url} is given for both {owners[url]!r} and {name!r}")
        peers[name] = url
        owners[url] = name
    return peers


def format_initial_cluster(peers: Mapping[str, str]) -> str:
    """The inverse of :func:`parse_static_peers`: etcd's ``--initial-cluster`` value."""
    return ",".join(f"{name}={url}" for name, url in peers.items())


def statefulset_peers(
    statefulset: str, service_fqdn: str, replicas: int, *, peer_port: int, scheme: str = "http"
) -> dict[str, str]:
    """The peers of a StatefulSet's pods: ``{sts}-{i} -> {scheme}://{sts}-{i}.{service}:{port}``."""
    if not _DNS_LABEL_RE.fullmatch(statefulset):
        raise ValueError(f"statefulset name {statefulset!r} is not a lowercase DNS label")
    if not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas must be a positive integer, not {replicas!r}")
    if len(f"{statefulset}-{replicas - 1}") > 63:
        raise ValueError(f"pod hostnames of statefulset {statefulset!r} exceed 63 characters")
    service = _validate_hostname(service_fqdn)
    if scheme not in ("http", "https"):
        raise ValueError(f"peer scheme must be http or https, not {scheme!r}")
    if not 0 < peer_port < 65536:
        raise ValueError(f"peer port {peer_port} is out of range")
    return {
        f"{statefulset}-{i}": f"{scheme}://{statefulset}-{i}.{service}:{peer_port}"
        for i in range(replicas)
    }


async def discover_dns(
    service_fqdn: str,
    *,
    statefulset: str,
    replicas: int,
    peer_port: int,
    resolver: Resolver | None = None,
    timeout: float = 120.0,
    interval: float = 0.5,
    scheme: str = "http",
) -> dict[str, str]:
    """Wait until every pod hostname of the StatefulSet resolves; return the peer mapping.

    Raises :class:`DiscoveryTimeout` (naming the hostnames still missing) after ``timeout``
    seconds. Lookups run concurrently each round, each bounded by the remaining time.
    """
    peers = statefulset_peers(
        statefulset, service_fqdn, replicas, peer_port=peer_port, scheme=scheme
    )
    resolve = resolver if resolver is not None else getaddrinfo_resolver
    hosts = {name: urllib.parse.urlsplit(url).hostname or "" for name, url in peers.items()}
    deadline = time.monotonic() + timeout
    pending = sorted(hosts.values())
    errors: dict[str, str] = {}
    while True:
        remaining = deadline - time.monotonic()
        if remaining > 0:
            results = await _resolve_all(resolve, pending, remaining)
            errors = {host: err for host, err in results.items() if err}
            pending = sorted(errors)
            if not pending:
                return peers
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = "; ".join(f"{host}: {errors.get(host, 'no answer')}" for host in pending)
            raise DiscoveryTimeout(
                f"{len(pending)} of {replicas} peer hostnames of statefulset {statefulset!r} "
                f"did not resolve within {timeout}s ({detail}); is the headless service "
                f"{service_fqdn!r} publishing not-ready addresses?",
                pending,
            )
        await asyncio.sleep(min(interval, remaining))


async def getaddrinfo_resolver(hostname: str) -> list[str]:
    """The default resolver: the IPv4 addresses ``getaddrinfo`` gives for ``hostname``."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(
            hostname, None, family=socket.AF_INET, type=socket.SOCK_STREAM
        )
    except socket.gaierror:
        return []
    return sorted({str(info[4][0]) for info in infos})


async def _resolve_all(resolve: Resolver, hosts: list[str], budget: float) -> dict[str, str]:
    """Resolve ``hosts`` concurrently; map each to "" if it resolved, else the reason."""

    async def one(host: str) -> str:
        try:
            async with asyncio.timeout(budget):
                addresses = await resolve(host)
        except TimeoutError:
            return "lookup timed out"
        except OSError as exc:
            return f"lookup failed: {exc}"
        return "" if addresses else "no addresses"

    async with asyncio.TaskGroup() as group:
        tasks = {host: group.create_task(one(host)) for host in hosts}
    return {host: task.result() for host, task in tasks.items()}


def _validate_hostname(name: str) -> str:
    host = name[:-1] if name.endswith(".") else name
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_HOSTNAME_RE.fullmatch(lb) for lb in labels):
        raise ValueError(f"{name!r} is not a valid DNS name")
    if any(len(label) > 63 for label in labels):
        raise ValueError(f"{name!r} has a DNS label longer than 63 characters")
    return host
