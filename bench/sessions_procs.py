"""The processes of ``python -m bench sessions`` and how they are counted.

* the API server with the simulated cluster: ``pilothouse cluster up --memory --nodes N``
  (:class:`pilothouse.testing.process.ClusterProcess`);
* the sessions operator's manager: ``pilothouse run --controllers sessions
  --register-webhooks -n default``, exactly as a user runs it, with its ``/metrics``
  (``rest_client_requests_total{method}``: every request its client makes, watches
  included; ``controller_runtime_webhook_latency_seconds``: the admission handlers' time);
* the sessions API (:mod:`bench.sessions_apiproc`), with its own request counts.

The API server has no request counters, so "requests at the server" is the sum of what
each client process counted (the simulated cluster's controllers run inside the server and
make no requests).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import pathlib
import re
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp

from pilothouse import ports
from pilothouse.client import client as client_mod

ADMISSION = "/apis/admissionregistration.k8s.io/v1"
WEBHOOK_CONFIGS = ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

_SAMPLE = re.compile(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = list[tuple[str, dict[str, str], float]]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux ``/proc``)."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


class CpuMeter:
    """CPU seconds of named processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._t0 = 0.0
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._before = {k: cpu_seconds(p) for k, p in self.pids.items()}

    def stop(self) -> dict[str, float]:
        """Per process, the share of one core used (1.0 = a whole core)."""
        wall = time.monotonic() - self._t0
        return {k: (cpu_seconds(p) - self._before[k]) / wall for k, p in self.pids.items()}


def parse_metrics(text: str) -> Samples:
    out: Samples = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            out.append((m[1], dict(_LABEL.findall(m[2] or "")), float(m[3])))
    return out


def requests_by_method(samples: Samples) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for name, labels, value in samples:
        if name == "rest_client_requests_total":
            out[labels.get("method", "?")] += int(value)
    return out


def webhook_latency(samples: Samples) -> dict[str, dict[str, float]]:
    """Per webhook path: ``count``, ``sum`` and the cumulative ``le=…`` buckets."""
    out: dict[str, dict[str, float]] = collections.defaultdict(dict)
    prefix = "controller_runtime_webhook_latency_seconds_"
    for name, labels, value in samples:
        if name.startswith(prefix):
            part = name[len(prefix) :]
            key = f"le={labels['le']}" if part == "bucket" else part
            out[labels.get("webhook", "?")][key] = value
    return dict(out)


def writes(counts: collections.Counter[str] | dict[str, int]) -> int:
    return sum(counts.get(m, 0) for m in WRITE_METHODS)


class Manager:
    """``pilothouse run`` with the sessions operator; its log goes to ``log``."""

    def __init__(self, kubeconfig: pathlib.Path, log: pathlib.Path, controllers: str) -> None:
        self.metrics_port, self.health_port = ports.free_ports(2)
        self.log = log
        self.cmd = [
            sys.executable,
            "-m",
            "pilothouse.cli",
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "--namespace",
            "default",
            "--controllers",
            controllers,
            "--register-webhooks",
            "--webhook-port",
            str(ports.free_port()),
            "--metrics-bind-address",
            f"127.0.0.1:{self.metrics_port}",
            "--health-probe-bind-address",
            f"127.0.0.1:{self.health_port}",
            "--log-level",
            "warning",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT)

    async def wait_ready(self, kube: client_mod.Client, timeout: float = 60) -> None:
        """Ready (``/readyz``) and both webhook configurations registered."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the manager exited; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{self.health_port}/readyz") as r:
                        if r.status == 200 and all(await webhook_configs(kube)):
                            return
                await asyncio.sleep(0.2)  # polling start-up, with a deadline
        raise TimeoutError(f"the manager did not become ready; see {self.log}")

    async def metrics(self) -> Samples:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as r,
        ):
            return parse_metrics(await r.text())

    def stop(self) -> None:
        _stop(self.proc)


async def webhook_configs(kube: client_mod.Client) -> list[list[dict[str, Any]]]:
    """The validating and the mutating webhook configurations, as stored."""
    out = []
    for plural in WEBHOOK_CONFIGS:
        out.append((await kube.request("GET", f"{ADMISSION}/{plural}")).get("items") or [])
    return out


async def remove_webhooks(kube: client_mod.Client) -> list[tuple[str, dict[str, Any]]]:
    """Delete the webhook configurations; returns them, for :func:`restore_webhooks`."""
    saved = []
    for plural, items in zip(WEBHOOK_CONFIGS, await webhook_configs(kube), strict=True):
        for item in items:
            name = item["metadata"]["name"]
            await kube.request("DELETE", f"{ADMISSION}/{plural}/{name}")
            item["metadata"] = {
                k: item["metadata"][k] for k in ("name", "labels") if k in item["metadata"]
            }
            saved.append((plural, item))
    return saved


async def restore_webhooks(
    kube: client_mod.Client, saved: list[tuple[str, dict[str, Any]]]
) -> None:
    for plural, item in saved:
        await kube.request("POST", f"{ADMISSION}/{plural}", body=item)


class SessionsAPI:
    """:mod:`bench.sessions_apiproc` with one heartbeat interval."""

    def __init__(
        self,
        kubeconfig: pathlib.Path,
        interval: float,
        db: pathlib.Path,
        users: int,
    ) -> None:
        self.port = ports.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [
            sys.executable,
            "-m",
            "bench.sessions_apiproc",
            str(kubeconfig),
            str(self.port),
            str(interval),
            str(db),
            str(users),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def __aenter__(self) -> SessionsAPI:
        self.start()
        assert self.proc is not None
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the sessions API exited ({self.proc.returncode})")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return self
                await asyncio.sleep(0.2)  # polling start-up, with a deadline
        raise TimeoutError("the sessions API did not start")

    async def __aexit__(self, *exc: object) -> None:
        _stop(self.proc)

    async def counts(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(self.url + "/bench/counts") as r:
            out: dict[str, Any] = await r.json()
            return out


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
