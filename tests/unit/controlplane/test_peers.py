"""Peer lists: static parsing and StatefulSet DNS discovery (with a fake resolver only)."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.controlplane import peers
from pilothouse.controlplane.peers import (
    DiscoveryTimeout,
    discover_dns,
    format_initial_cluster,
    getaddrinfo_resolver,
    parse_static_peers,
    statefulset_peers,
    validate_member_name,
)

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=30)
hosts = st.sampled_from(["127.0.0.1", "10.0.0.7", "etcd-0.etcd.ns.svc.cluster.local", "node"])
urls = st.builds(
    "{}://{}:{}".format, st.sampled_from(["http", "https"]), hosts, st.integers(1, 65535)
)


# --- static lists ----------------------------------------------------------------------------


def test_parses_a_static_list() -> None:
    spec = "a=http://127.0.0.1:2380, b=https://etcd-1.etcd:2381/ ,c.d_e-f=http://10.0.0.3:7001"
    assert parse_static_peers(spec) == {
        "a": "http://127.0.0.1:2380",
        "b": "https://etcd-1.etcd:2381",
        "c.d_e-f": "http://10.0.0.3:7001",
    }


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("", "peer list is empty"),
        ("   ", "peer list is empty"),
        ("a=http://h:1,", "entry 2 is empty"),
        ("a=http://h:1,,b=http://h:2", "entry 2 is empty"),
        ("a", "not of the form name=url"),
        ("=http://h:1", "non-empty"),
        ("a b=http://h:1", "may only contain"),
        ("a/b=http://h:1", "may only contain"),
        ("a=http://h:1,a=http://h:2", "'a' appears more than once"),
        ("a=http://h:1,b=http://h:1/", "given for both 'a' and 'b'"),
        ("a=", "non-empty"),
        ("a=ftp://h:1", "must use http:// or https://"),
        ("a=h:2380", "must use http:// or https://"),
        ("a=http://h", "has no port"),
        ("a=http://:2380", "has no host"),
        ("a=http://h:0", "port 0"),
        ("a=http://h:99999", "invalid peer URL"),
        ("a=http://h:port", "invalid peer URL"),
        ("a=http://u:p@h:1", "credentials"),
        ("a=http://h:1/path", "path, query or fragment"),
        ("a=http://h:1?x=1", "path, query or fragment"),
        ("a=http://h:1#frag", "path, query or fragment"),
    ],
)
def test_rejects_bad_static_lists(spec: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_static_peers(spec)


@given(st.dictionaries(names, urls, min_size=1, max_size=7))
def test_format_and_parse_round_trip(mapping: dict[str, str]) -> None:
    if len(set(mapping.values())) < len(mapping):
        with pytest.raises(ValueError, match="given for both"):
            parse_static_peers(format_initial_cluster(mapping))
    else:
        assert parse_static_peers(format_initial_cluster(mapping)) == mapping


@given(names)
def test_valid_names_are_accepted(name: str) -> None:
    assert validate_member_name(name) == name
    assert parse_static_peers(f"{name}=http://127.0.0.1:2380") == {name: "http://127.0.0.1:2380"}


# "," and "=" are list syntax, so they change the entry structure rather than the name.
invalid_names = st.text(min_size=1, max_size=30).filter(
    lambda s: "," not in s and "=" not in s and not peers.MEMBER_NAME_RE.fullmatch(s.strip())
)


@given(invalid_names)
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        validate_member_name(name.strip())
    with pytest.raises(ValueError):
        parse_static_peers(f"{name}=http://127.0.0.1:2380")


# --- StatefulSet peers -----------------------------------------------------------------------

SERVICE = "etcd.storage.svc.cluster.local"


def test_statefulset_peers_follow_the_pod_hostname_convention() -> None:
    assert statefulset_peers("cp", SERVICE, 3, peer_port=2380) == {
        "cp-0": f"http://cp-0.{SERVICE}:2380",
        "cp-1": f"http://cp-1.{SERVICE}:2380",
        "cp-2": f"http://cp-2.{SERVICE}:2380",
    }
    assert statefulset_peers("cp", SERVICE + ".", 1, peer_port=7001, scheme="https") == {
        "cp-0": f"https://cp-0.{SERVICE}:7001"
    }


@pytest.mark.parametrize(
    ("sts", "service", "replicas", "port", "error"),
    [
        ("CP", SERVICE, 3, 2380, "lowercase DNS label"),
        ("cp_x", SERVICE, 3, 2380, "lowercase DNS label"),
        ("-cp", SERVICE, 3, 2380, "lowercase DNS label"),
        ("c" * 62, SERVICE, 11, 2380, "exceed 63"),
        ("cp", SERVICE, 0, 2380, "positive integer"),
        ("cp", "bad..name", 3, 2380, "not a valid DNS name"),
        ("cp", "", 3, 2380, "not a valid DNS name"),
        ("cp", "a" * 64 + ".svc", 3, 2380, "longer than 63"),
        ("cp", SERVICE, 3, 0, "out of range"),
        ("cp", SERVICE, 3, 65536, "out of range"),
    ],
)
def test_statefulset_peers_validation(
    sts: str, service: str, replicas: int, port: int, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        statefulset_peers(sts, service, replicas, peer_port=port)


class FakeDNS:
    """Hostnames appear after a number of lookups each; counts every lookup."""

    def __init__(self, appear_after: dict[str, int], fail_with: type[OSError] | None = None):
        self.appear_after = appear_after
        self.fail_with = fail_with
        self.lookups: Counter[str] = Counter()

    async def __call__(self, hostname: str) -> list[str]:
        self.lookups[hostname] += 1
        if self.lookups[hostname] > self.appear_after.get(hostname, 10**9):
            return [f"10.1.0.{sorted(self.appear_after).index(hostname)}"]
        if self.fail_with is not None:
            raise self.fail_with("not yet")
        return []


async def test_discovery_waits_until_every_pod_resolves() -> None:
    dns = FakeDNS({f"cp-0.{SERVICE}": 0, f"cp-1.{SERVICE}": 3, f"cp-2.{SERVICE}": 1})

    found = await discover_dns(
        SERVICE, statefulset="cp", replicas=3, peer_port=2380, resolver=dns, interval=0.001
    )

    assert found == statefulset_peers("cp", SERVICE, 3, peer_port=2380)
    # Only the pods' names are looked up, and a resolved name is not asked again.
    assert dns.lookups == {f"cp-0.{SERVICE}": 1, f"cp-1.{SERVICE}": 4, f"cp-2.{SERVICE}": 2}


async def test_resolver_errors_mean_not_yet() -> None:
    dns = FakeDNS({f"cp-0.{SERVICE}": 2}, fail_with=socket.gaierror)
    found = await discover_dns(
        SERVICE, statefulset="cp", replicas=1, peer_port=2380, resolver=dns, interval=0.001
    )
    assert found == {"cp-0": f"http://cp-0.{SERVICE}:2380"}


async def test_discovery_times_out_naming_the_missing_pods() -> None:
    dns = FakeDNS({f"cp-0.{SERVICE}": 0})
    with pytest.raises(DiscoveryTimeout, match="publishing not-ready addresses") as info:
        await discover_dns(
            SERVICE,
            statefulset="cp",
            replicas=3,
            peer_port=2380,
            resolver=dns,
            timeout=0.2,
            interval=0.01,
        )
    assert info.value.unresolved == [f"cp-1.{SERVICE}", f"cp-2.{SERVICE}"]
    assert "2 of 3" in str(info.value)


async def test_a_hanging_resolver_cannot_outlast_the_deadline() -> None:
    never = asyncio.Event()

    async def hang(hostname: str) -> list[str]:
        await never.wait()
        return []

    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(DiscoveryTimeout, match="lookup timed out"):
        await discover_dns(
            SERVICE, statefulset="cp", replicas=2, peer_port=2380, resolver=hang, timeout=0.2
        )
    assert loop.time() - began < 2.0


async def test_default_resolver_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    # A numeric address needs no DNS; a failing lookup means "not yet", not an error.
    assert await getaddrinfo_resolver("127.0.0.1") == ["127.0.0.1"]
    loop = asyncio.get_running_loop()

    async def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(loop, "getaddrinfo", no_such_host)
    assert await getaddrinfo_resolver(f"cp-0.{SERVICE}") == []
