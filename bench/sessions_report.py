"""The Markdown table of ``python -m bench sessions``: the median of the rounds, with the
range (min-max) when there is more than one round, and the ratios that matter (short vs
default heartbeat interval; admission with vs without webhooks), each ratio taken within a
round, then the median of those."""

from __future__ import annotations

import statistics
from typing import Any

Round = dict[str, Any]
Path = tuple[str, ...]


def _get(r: Round, path: Path) -> float:
    value: Any = r
    for key in path:
        value = value[key]
    return float(value)


def _fig(values: list[float], fmt: str) -> str:
    mid = fmt.format(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(result: dict[str, Any]) -> str:
    a = result["args"]
    variants: dict[str, list[Round]] = result["variants"]
    out = []
    for name, rounds in variants.items():
        out.append(f"### manager: {name}\n\n{_table(rounds, a)}")
    if len(variants) == 2:
        out.append(_compare(variants))
    return "\n\n".join(out)


def _compare(variants: dict[str, list[Round]]) -> str:
    (na, ra), (nb, rb) = variants.items()
    rows = []
    for label, path in (
        ("to Running, wall time (s)", ("running", "wall_s")),
        ("to Running, manager CPU (cores)", ("running", "cpu_cores", "manager")),
        ("to Running, server CPU (cores)", ("running", "cpu_cores", "server")),
        ("to Running, manager CPU (seconds)", ("running", "cpu_seconds", "manager")),
        ("to Running, server CPU (seconds)", ("running", "cpu_seconds", "server")),
        ("creates with webhooks, p50 (ms)", ("admission", "on", "real", "p50_ms")),
        ("creates with webhooks, p99 (ms)", ("admission", "on", "real", "p99_ms")),
        ("dry-run creates with webhooks, p99 (ms)", ("admission", "on", "dry", "p99_ms")),
    ):
        va = [_get(r, path) for r in ra]
        vb = [_get(r, path) for r in rb]
        ratios = [x / max(y, 1e-9) for x, y in zip(va, vb, strict=False)]
        rows.append(
            f"| {label} | {_fig(va, '{:.2f}')} | {_fig(vb, '{:.2f}')} | {_fig(ratios, '{:.2f}x')} |"
        )
    head = f"### {na} vs {nb} (ratio per round, median)\n\n| figure | {na} | {nb} | {na} / {nb} |"
    return "\n".join([head, "|---|---|---|---|", *rows])


def _table(rounds: list[Round], a: dict[str, Any]) -> str:
    n = a["sessions"]
    rows: list[tuple[str, str]] = []

    def row(label: str, path: Path, fmt: str = "{:.1f}") -> None:
        rows.append((label, _fig([_get(r, path) for r in rounds], fmt)))

    def ratio(label: str, top: Path, bottom: Path) -> None:
        if any(_get(r, bottom) == 0 for r in rounds):
            rows.append((label, "n/a (zero denominator)"))
            return
        values = [_get(r, top) / _get(r, bottom) for r in rounds]
        rows.append((label, _fig(values, "{:.2f}x")))

    run = ("running",)
    row(f"{n:,} sessions created → all Running, wall time (s)", (*run, "wall_s"))
    row("  of which the creates, 16 clients (s)", (*run, "creates_done_s"))
    row("  create latency p50 under that load (ms)", (*run, "create_p50_ms"))
    row("  create latency p99 under that load (ms)", (*run, "create_p99_ms"))
    row("  manager requests per session", (*run, "manager_requests_per_session"), "{:.2f}")
    row("  manager writes per session", (*run, "manager_writes_per_session"), "{:.2f}")
    row("  requests at the API server (manager + creates)", (*run, "server_requests"), "{:,.0f}")
    for proc in ("server", "manager", "bench"):
        row(f"  CPU, {proc} (cores)", (*run, "cpu_cores", proc), "{:.2f}")
    arms = list(rounds[0]["heartbeats"])
    for tag in arms:
        hb = ("heartbeats", tag)
        interval = _get(rounds[0], (*hb, "interval_s"))
        what = {
            "default": f"heartbeats, interval {interval:g} s",
            "short": f"heartbeats, interval {interval:g} s",
            "healthz": "GET /healthz (control)",
        }[tag]
        row(f"{what}: p50 (ms)", (*hb, "p50_ms"), "{:.2f}")
        row(f"{what}: p99 (ms)", (*hb, "p99_ms"), "{:.2f}")
        row(f"{what}: max (ms)", (*hb, "max_ms"), "{:.1f}")
        row(f"{what}: achieved req/s", (*hb, "achieved_rps"), "{:.0f}")
        row(f"{what}: requests sent", (*hb, "requests"), "{:.0f}")
        row(f"{what}: answered 2xx", (*hb, "ok"), "{:.0f}")
        row(f"{what}: generator's worst send lag (ms)", (*hb, "send_lag_max_ms"), "{:.1f}")
        if tag != "healthz":
            row(f"{what}: status PATCHes in the window", (*hb, "api_status_patches"), "{:,.0f}")
            row(
                f"{what}: Session MODIFIED events seen",
                (*hb, "session_modified_events"),
                "{:,.0f}",
            )
            row(
                f"{what}: manager requests in the window",
                (*hb, "manager_requests_in_window"),
                "{:.0f}",
            )
        for proc in ("api", "server", "manager", "loadgen"):
            row(f"{what}: CPU, {proc} (cores)", (*hb, "cpu_cores", proc), "{:.2f}")
    short, default = ("heartbeats", "short"), ("heartbeats", "default")
    if "short" in arms and "default" in arms:
        ratio(
            "heartbeat writes, short / default interval",
            (*short, "api_status_patches"),
            (*default, "api_status_patches"),
        )
        ratio("heartbeat p99, short / default interval", (*short, "p99_ms"), (*default, "p99_ms"))
    for kind, what in (("dry", "dry-run creates"), ("real", "creates")):
        for arm, label in (("on", "with webhooks"), ("off", "without webhooks")):
            for q in ("p50", "p99"):
                row(
                    f"Session {what} {label}: {q} (ms)",
                    ("admission", arm, kind, f"{q}_ms"),
                    "{:.2f}",
                )
        for q in ("p50", "p99"):
            ratio(
                f"{what} {q}, with / without webhooks",
                ("admission", "on", kind, f"{q}_ms"),
                ("admission", "off", kind, f"{q}_ms"),
            )
        for hook in ("mutate", "validate"):
            h = ("admission", "on", kind, "handler", hook)
            row(f"  {what}: {hook} handler mean (ms)", (*h, "mean_ms"), "{:.2f}")
            row(f"  {what}: {hook} handler p99 ≤ bucket (ms)", (*h, "p99_le_ms"), "{:g}")
        row(
            f"  {what} with webhooks: manager CPU (cores)",
            ("admission", "on", kind, "cpu_cores", "manager"),
            "{:.2f}",
        )
    head = (
        f"{len(rounds)} round(s); {n} sessions, {a['rate']:g} heartbeats/s for "
        f"{a['duration']:g} s, {a['webhook_creates']} creates per admission arm; "
        "median (min-max)\n\n| figure | measured |\n|---|---|"
    )
    return "\n".join([head, *(f"| {k} | {v} |" for k, v in rows)])
