"""Turn a result into the printed table (absolute numbers and ratios) and the JSON file."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BUSY_LOAD_AVERAGE = 1.0  # the benchmark itself keeps about one core busy

Row = tuple[str, float | None, float | None]  # label, plain, service


def ratio(plain: float | None, service: float | None) -> str:
    """Service / plain, the number that survives a noisy machine."""
    if plain is None or service is None or plain == 0:
        return "-"
    return f"{service / plain:.2f}"


def fmt(value: float | None) -> str:
    """Print with enough digits to compare, not more."""
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def pick(section: dict[str, Any], key: str) -> tuple[float | None, float | None]:
    """Return (plain, service) values of ``key`` from a measurement section."""
    return section.get("plain", {}).get(key), section.get("service", {}).get(key)


def load_rows(load: dict[str, Any]) -> Iterator[Row]:
    """Rows of the load test."""
    yield ("requests/s (median)", *pick(load, "rps"))
    yield ("requests/s (best round)", *pick(load, "rps_best"))
    yield ("requests per server CPU-second", *pick(load, "rps_per_cpu"))
    yield ("server CPU us per request", *pick(load, "server_cpu_us_per_request"))
    yield ("p50 latency ms (median)", *pick(load, "p50_ms"))
    yield ("p99 latency ms (median)", *pick(load, "p99_ms"))
    yield ("errors (non-2xx, timeouts)", *pick(load, "errors"))
    yield ("log lines per request", *pick(load, "log_lines_per_request"))


def inprocess_rows(inprocess: dict[str, Any]) -> Iterator[Row]:
    """Rows of the in-process measurement."""
    yield ("request path us/req (best)", *pick(inprocess, "wall_us_best"))
    yield ("request path us/req (median)", *pick(inprocess, "wall_us_median"))
    yield ("CPU us/req, all threads (best)", *pick(inprocess, "cpu_us_best"))
    yield ("CPU us/req, all threads (median)", *pick(inprocess, "cpu_us_median"))
    yield ("log lines per request", *pick(inprocess, "log_lines_per_request"))


def coldstart_rows(coldstart: dict[str, Any]) -> Iterator[Row]:
    """Rows of the cold start."""
    yield ("whole process ms (median)", *pick(coldstart, "process_ms"))
    yield ("import ms", *pick(coldstart, "import_ms"))
    yield ("create_app ms", *pick(coldstart, "create_ms"))
    yield ("import + create_app ms", *pick(coldstart, "import_create_ms"))
    yield ("lifespan startup ms", *pick(coldstart, "startup_ms"))


def table(title: str, rows: Iterator[Row]) -> list[str]:
    """Format one section: label, plain, service, service/plain."""
    lines = [f"\n{title}", f"  {'':34} {'plain':>11} {'service':>11} {'ratio':>7}"]
    for label, plain, service in rows:
        lines.append(f"  {label:34} {fmt(plain):>11} {fmt(service):>11} {ratio(plain, service):>7}")
    return lines


def scenario_lines(name: str, result: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """All sections of one scenario, then the target check (information only)."""
    lines = [f"\n=== scenario {name}: {result['description']}"]
    plan = meta["plan"]
    if "load" in result:
        title = (
            f"load: wrk, {plan['rounds']} rounds x {plan['duration_s']}s per app (alternating), "
            f"{plan['connections']} connections"
        )
        lines += table(title, load_rows(result["load"]))
        lines += paired_lines(result["load"])
    if "inprocess" in result:
        title = f"in-process ASGI: {plan['repeats']} repeats x {result['iterations']} requests"
        lines += table(title, inprocess_rows(result["inprocess"]))
        lines += overhead_lines(result["inprocess"])
    if "middleware" in result:
        lines += middleware_lines(result["middleware"])
    if "coldstart" in result:
        lines += table(
            f"cold start: {plan['cold_runs']} fresh interpreters per app",
            coldstart_rows(result["coldstart"]),
        )
    if "load" in result:
        lines += target_lines(result["load"], result["target"])
    return lines


def overhead_lines(inprocess: dict[str, Any]) -> list[str]:
    """State the service's own cost per request, in microseconds."""
    lines = []
    for key, label in (("wall_us_best", "request path"), ("cpu_us_best", "CPU, all threads")):
        plain, service = pick(inprocess, key)
        if plain is not None and service is not None:
            lines.append(f"  service overhead ({label}): {service - plain:+.1f} us per request")
    return lines


def middleware_lines(middleware: dict[str, Any]) -> list[str]:
    """Show what each middleware costs inside the service (CPU us per request, medians)."""
    rounds = len(middleware["cpu_us"]["all"])
    lines = [
        f"\nper-middleware cost, in-process, one process, {rounds} alternating rounds of "
        f"{middleware['batch']} requests (CPU us/req; a middleware's cost is the median over "
        "rounds of the service minus the service without it)",
        f"  {'service, everything on':34} {middleware['service_us']:>11.1f}",
    ]
    lines += [f"  {name:34} {cost:>+11.1f}" for name, cost in middleware["cost_us"].items()]
    lines.append(f"  {'service with no middleware':34} {middleware['no_middleware_us']:>11.1f}")
    lines.append(f"  {'reference app (same process)':34} {middleware['plain_us']:>11.1f}")
    return lines


def paired_lines(load: dict[str, Any]) -> list[str]:
    """Give the ratios the target is judged on: raw, and normalised by the server's CPU time."""
    lines = []
    for key, label in (
        ("paired_rps_ratio", "requests/s"),
        ("paired_rps_per_cpu_ratio", "requests per server CPU-second"),
    ):
        if load.get(key) is not None:
            lines.append(f"  service/plain {label}, median of back-to-back pairs: {load[key]:.2f}")
    return lines


def target_lines(load: dict[str, Any], target: dict[str, Any]) -> list[str]:
    """State the scenario's target as information: a benchmark is not a test.

    Judged on requests per server CPU-second when known: on a shared machine the neighbours
    take a varying share of the server's core, which moves raw requests/s but not this.
    """
    key = "paired_rps_per_cpu_ratio" if load.get("paired_rps_per_cpu_ratio") else "paired_rps_ratio"
    share = load.get(key)
    basis = "per server CPU-second" if key == "paired_rps_per_cpu_ratio" else "per second"
    if share is None:
        outcome = "not measured (no run of both apps completed)"
    else:
        outcome = f"{share:.2f}, {'met' if share >= target['ratio'] else 'NOT met'}"
    return [
        f"\ntarget ({target['source']}, information only): service keeps >= "
        f"{target['ratio']:.2f} of the reference app's requests ({basis}, median of "
        f"back-to-back pairs) -> {outcome}",
    ]


def header_lines(meta: dict[str, Any]) -> list[str]:
    """Say what ran where, so a number is never read out of context."""
    versions = meta["versions"]
    libraries = ", ".join(f"{name} {version}" for name, version in versions.items() if version)
    runtime = meta["runtime"]
    lines = [
        f"template {meta['template']} @ {meta.get('template_commit') or '?'}",
        f"project {meta['project']}",
        f"libraries (shared venv): {libraries}",
        f"uvicorn: 1 worker, --loop {runtime['loop']} --http {runtime['http']}, access log off; "
        f"app on cpu {runtime['server_cpu']}, wrk on cpu {runtime['client_cpu']}",
    ]
    before, after = meta["load_average_before"], meta["load_average_after"]
    lines.append(
        f"machine: {meta['cpu_count']} cpus, 1-minute load average {before:.1f} before, "
        f"{after:.1f} after"
    )
    if max(before, after) > BUSY_LOAD_AVERAGE:
        lines.append(
            "WARNING: other processes shared the cores during this run: raw requests/s and "
            "wall times are unreliable; trust the CPU-normalised numbers and paired ratios"
        )
    render = meta.get("render") or {}
    if "copier_s" in render:
        lines.append(f"render (copier copy): {render['copier_s']:.2f} s")
    if "install_s" in render:
        lines.append(f"install (uv sync --no-dev): {render['install_s']:.2f} s")
    return lines


def render_report(result: dict[str, Any]) -> str:
    """Format the whole printed report."""
    meta = result["meta"]
    lines = header_lines(meta)
    for name, scenario in result["scenarios"].items():
        lines += scenario_lines(name, scenario, meta)
    return "\n".join(lines) + "\n"


def write_json(result: dict[str, Any], directory: Path, mode: str) -> Path:
    """Write the full result (raw samples included) under a timestamped name."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{stamp}-{mode}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n", "utf-8")
    return path


def emit(text: str) -> None:
    """Write to stdout; the report is the program's output, not a log."""
    sys.stdout.write(text)
    sys.stdout.flush()
