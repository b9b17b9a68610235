"""The open-loop heartbeat load generator of ``python -m bench sessions``, in its own
process so it does not share an event loop with the API it measures.

``python -m bench.sessions_load URL RATE DURATION SESSIONS USERS [healthz]``: sends
``POST URL/api/v1/sessions/s{i}/heartbeat`` (session ``s{i}`` belongs to user
``u{i % USERS}``, token ``t-u{i % USERS}``) at RATE requests/s for DURATION seconds, round
robin over a shuffled list of the SESSIONS sessions, so each session gets a heartbeat every
SESSIONS / RATE seconds. Before the measured window every session gets one unmeasured
heartbeat at the same rate (the API reads a session once, on its first heartbeat, to check
the owner). With ``healthz``, ``GET URL/healthz`` instead at the same rate and over the
same connections: the control, what the machine, uvicorn and FastAPI cost without any of
the API's own work. Prints one JSON object: latencies, errors, achieved rate, and how late the
generator itself launched requests.

Open loop: request *i* is due at ``start + i / RATE`` whether or not earlier ones have
answered, and its latency is measured from that due time, not from when it was actually
sent, so a stall of the server (or of a connection) counts against every request it
delayed (no coordinated omission). Connections are kept alive (aiohttp's pool, at most
``CONNECTIONS``); a request waiting for a free connection is waiting, and that counts too.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import Any

import aiohttp
import orjson

CONNECTIONS = 64


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _open_loop(
    http: aiohttp.ClientSession,
    targets: list[tuple[str, dict[str, str]]],
    rate: float,
    count: int,
    method: str = "POST",
) -> dict[str, Any]:
    latencies: list[float] = []
    codes: dict[str, int] = {}
    lag_max = 0.0
    tasks: set[asyncio.Task[None]] = set()

    async def one(url: str, headers: dict[str, str], due: float) -> None:
        try:
            async with http.request(method, url, headers=headers) as resp:
                await resp.read()
                code = str(resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            code = type(exc).__name__
        codes[code] = codes.get(code, 0) + 1
        if code in ("200", "204"):
            latencies.append(time.perf_counter() - due)

    cpu0 = time.process_time()
    start = time.perf_counter() + 0.05
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag_max = max(lag_max, -delay)
        url, headers = targets[i % len(targets)]
        task = asyncio.create_task(one(url, headers, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    ok = len(latencies)
    return {
        "requests": count,
        "ok": ok,
        "codes": codes,
        "achieved_rps": ok / elapsed,
        "p50_ms": _pct(latencies, 0.50) * 1e3,
        "p99_ms": _pct(latencies, 0.99) * 1e3,
        "max_ms": max(latencies, default=float("nan")) * 1e3,
        "send_lag_max_ms": lag_max * 1e3,
        "cpu_cores": (time.process_time() - cpu0) / elapsed,
    }


async def run(
    url: str, rate: float, duration: float, sessions: int, users: int, healthz: bool
) -> dict[str, Any]:
    targets = [
        (
            f"{url}/api/v1/sessions/s{i}/heartbeat",
            {"Authorization": f"Bearer t-u{i % users}"},
        )
        for i in range(sessions)
    ]
    random.Random(7).shuffle(targets)
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        warmup = await _open_loop(http, targets, rate, sessions)
        if warmup["ok"] != sessions:
            raise SystemExit(f"warm-up heartbeats failed: {warmup['codes']}")
        if healthz:
            targets = [(f"{url}/healthz", {})]
        print("measuring", file=sys.stderr, flush=True)
        count = int(rate * duration)
        return await _open_loop(http, targets, rate, count, "GET" if healthz else "POST")


def main(argv: list[str]) -> None:
    url, rate, duration, sessions, users = argv[:5]
    healthz = argv[5:] == ["healthz"]
    result = asyncio.run(run(url, float(rate), float(duration), int(sessions), int(users), healthz))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
