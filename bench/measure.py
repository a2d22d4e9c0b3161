"""The three measurements, each run for the plain app and the service under the same conditions.

Every function returns plain JSON-able dicts keyed by app name (``plain``, ``service``): the raw
samples and the summary the report prints, so a result file can be re-read and re-judged.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import Wrk, ensure_wrk, pinned, start_server, stop_server, wait_ready
from bench.plan import Plan, Runtime
from bench.scenarios import Scenario

Targets = dict[str, str]  # app name -> module:factory


def count_lines(path: Path) -> int:
    """Count log lines: the proof that the service's log pipeline really ran."""
    with path.open("rb") as lines:
        return sum(1 for _ in lines)


def alternating(names: list[str], round_index: int) -> list[str]:
    """Order the apps ABBA...: alternating who goes first cancels linear drift of the machine."""
    return names if round_index % 2 == 0 else names[::-1]


def measure_load(targets: Targets, scenario: Scenario, plan: Plan, runtime: Runtime) -> Any:
    """Serve both apps at once and measure them with wrk in alternation; report medians."""
    wrk = Wrk(ensure_wrk(), plan.connections, runtime.client_cpu)
    servers = {name: start_server(name, target, runtime) for name, target in targets.items()}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    sent = dict.fromkeys(servers, 0)
    try:
        for server in servers.values():
            wait_ready(server, scenario.path, scenario.expected_json, scenario.headers)
        for name, server in servers.items():
            warmup = wrk.run(server, scenario.path, plan.warmup_s, scenario.headers)
            sent[name] += warmup["requests"]
        for round_index in range(plan.rounds):
            for name in alternating(list(servers), round_index):
                run = wrk.run(servers[name], scenario.path, plan.duration_s, scenario.headers)
                runs[name].append(run)
                sent[name] += run["requests"]
    finally:
        log_lines = {name: stop_server(server) for name, server in servers.items()}
    result: dict[str, Any] = {
        name: summarize_load(runs[name], sent[name], log_lines[name]) for name in servers
    }
    result["paired_rps_ratio"] = paired_ratio(runs["plain"], runs["service"], "rps")
    result["paired_rps_per_cpu_ratio"] = paired_ratio(runs["plain"], runs["service"], "rps_per_cpu")
    return result


def paired_ratio(
    plain: list[dict[str, Any]], service: list[dict[str, Any]], key: str
) -> float | None:
    """Median over rounds of service/plain ``key``, each pair measured back to back.

    Neighbours on a shared machine come and go; two runs next to each other mostly see the same
    neighbours, so the ratio of a pair is steadier than the ratio of two medians.
    """
    ratios = [s[key] / p[key] for p, s in zip(plain, service, strict=True) if p[key] and s[key]]
    return statistics.median(ratios) if ratios else None


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    """Median of a per-run number that may be missing (server CPU time off Linux)."""
    values = [run[key] for run in runs if run[key] is not None]
    return statistics.median(values) if values else None


def summarize_load(runs: list[dict[str, Any]], sent: int, log_lines: int) -> dict[str, Any]:
    """Median (and best) requests/s and latencies over the rounds, errors, log lines."""
    errors = sum(sum(run["errors"].values()) for run in runs)
    rps_per_cpu = median_of(runs, "rps_per_cpu")
    return {
        "rps": statistics.median(run["rps"] for run in runs),
        "rps_best": max(run["rps"] for run in runs),
        "rps_per_cpu": rps_per_cpu,
        "server_cpu_us_per_request": 1e6 / rps_per_cpu if rps_per_cpu else None,
        "p99_ms": statistics.median(run["latency_us"]["p99"] for run in runs) / 1e3,
        "p50_ms": statistics.median(run["latency_us"]["p50"] for run in runs) / 1e3,
        "errors": errors,
        "requests": sent,
        "log_lines": log_lines,
        "log_lines_per_request": log_lines / sent if sent else 0.0,
        "runs": runs,
    }


def run_in_venv(
    module: str, arguments: list[str], runtime: Runtime, stdout: Path, env: dict[str, str] | None
) -> None:
    """Run a ``bench`` driver module in the project's venv, on the app's core, logs to a file."""
    command = [str(runtime.python), "-m", module, *arguments]
    with stdout.open("wb") as log_file:
        completed = subprocess.run(
            pinned(command, runtime.server_cpu),
            cwd=runtime.workdir,
            env={**runtime.env, **(env or {})},
            stdout=log_file,
            stderr=subprocess.PIPE,
            check=False,
        )
    if completed.returncode != 0:
        error = completed.stderr.decode("utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"{module} failed for {arguments}:\n{error}")


@dataclass(frozen=True)
class InProcessRun:
    """One app to drive in-process: a label for its files, its target and extra environment."""

    label: str
    target: str
    env: dict[str, str] = field(default_factory=dict)
    profile: bool = False


def measure_one_inprocess(
    run: InProcessRun, scenario: Scenario, plan: Plan, runtime: Runtime
) -> dict[str, Any]:
    """Drive one app through ASGI in a fresh process and summarise its repeats."""
    out = runtime.workdir / f"{run.label}.inprocess.json"
    arguments = ["--target", run.target, "--path", scenario.path, "--out", str(out)]
    arguments += ["--expect-status", str(scenario.expected_status)]
    arguments += ["--expect-json", json.dumps(scenario.expected_json)]
    arguments += ["--iterations", str(plan.iterations), "--repeats", str(plan.repeats)]
    arguments += ["--warmup", str(plan.inprocess_warmup), "--loop", runtime.loop]
    for name, value in scenario.headers:
        arguments += ["--header", f"{name}: {value}"]
    profile_path = runtime.workdir / f"{run.label}.profile.txt"
    if run.profile:
        arguments += ["--profile", str(profile_path)]
    log_path = runtime.workdir / f"{run.label}.inprocess.stdout.log"
    run_in_venv("bench.inprocess", arguments, runtime, log_path, run.env)
    result = summarize_inprocess(json.loads(out.read_text("utf-8")), count_lines(log_path))
    if run.profile:
        result["profile"] = profile_path.read_text("utf-8")
    return result


def measure_inprocess(
    targets: Targets, scenario: Scenario, plan: Plan, runtime: Runtime, profile: bool
) -> Any:
    """Drive each app through ASGI in its own process; best and median microseconds per request."""
    return {
        name: measure_one_inprocess(
            InProcessRun(name, target, profile=profile and name == "service"),
            scenario,
            plan,
            runtime,
        )
        for name, target in targets.items()
    }


# The per-middleware runs cut each of the plan's repeats into ``ablation_slices`` short rounds:
# neighbours on a shared machine come and go over seconds, so the smaller the time between the
# batches compared, the less of their noise lands in a difference.
_ABLATION_MIN_BATCH = 50


def measure_middleware(targets: Targets, scenario: Scenario, plan: Plan, runtime: Runtime) -> Any:
    """Cost of each of the service's middleware: the service with it, minus the service without.

    Also measures the service with no middleware at all, which isolates the cost of the rest
    (exception handlers, router, the endpoint) against the plain app. Every variant and the plain
    app run in one process, in many short alternating rounds (see ``bench/apps/ablation.py``); a
    middleware's cost is the median over rounds of the difference within each round, and each
    variant's level the median of its batches.
    """
    out = runtime.workdir / "ablation.json"
    batch = max(_ABLATION_MIN_BATCH, plan.iterations // plan.ablation_slices)
    arguments = ["--service", targets["service"], "--plain", targets["plain"]]
    arguments += ["--path", scenario.path, "--out", str(out)]
    arguments += ["--expect-status", str(scenario.expected_status)]
    arguments += ["--expect-json", json.dumps(scenario.expected_json)]
    arguments += ["--iterations", str(batch), "--rounds", str(plan.repeats * plan.ablation_slices)]
    arguments += ["--warmup", str(plan.inprocess_warmup), "--loop", runtime.loop]
    for name, value in scenario.headers:
        arguments += ["--header", f"{name}: {value}"]
    run_in_venv("bench.apps.ablation", arguments, runtime, runtime.workdir / "ablation.log", None)
    raw = json.loads(out.read_text("utf-8"))
    samples: dict[str, list[float]] = raw["cpu_us"]
    names: list[str] = raw["middleware"]

    def paired_cost(name: str) -> float:
        pairs = zip(samples["all"], samples[f"without {name}"], strict=True)
        return statistics.median(full - without for full, without in pairs)

    return {
        "middleware": names,
        "cost_us": {name: paired_cost(name) for name in names},
        "service_us": statistics.median(samples["all"]),
        "no_middleware_us": statistics.median(samples["none"]),
        "plain_us": statistics.median(samples["plain"]),
        "batch": batch,
        "cpu_us": samples,
    }


def summarize_inprocess(raw: dict[str, Any], log_lines: int) -> dict[str, Any]:
    """Best-of (least disturbed) and median of the repeats, plus the log-line proof."""
    return {
        "wall_us_best": min(raw["wall_us"]),
        "wall_us_median": statistics.median(raw["wall_us"]),
        "cpu_us_best": min(raw["cpu_us"]),
        "cpu_us_median": statistics.median(raw["cpu_us"]),
        "log_lines": log_lines,
        "log_lines_per_request": log_lines / raw["requests"],
        **raw,
    }


def measure_coldstart(targets: Targets, plan: Plan, runtime: Runtime) -> Any:
    """Start a fresh interpreter per sample, alternating apps; the first round warms caches."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for round_index in range(plan.cold_runs + 1):
        for name in alternating(list(targets), round_index):
            out = runtime.workdir / f"{name}.coldstart.json"
            arguments = ["--target", targets[name], "--out", str(out)]
            log_path = runtime.workdir / f"{name}.coldstart.stdout.log"
            started = time.perf_counter()
            run_in_venv("bench.coldstart", arguments, runtime, log_path, None)
            process_ms = (time.perf_counter() - started) * 1e3
            if round_index > 0:  # the first one compiles bytecode and fills the page cache
                samples[name].append(
                    {**json.loads(out.read_text("utf-8")), "process_ms": process_ms}
                )
    return {name: summarize_coldstart(runs) for name, runs in samples.items()}


def summarize_coldstart(runs: list[dict[str, float]]) -> dict[str, Any]:
    """Median of every timed phase over the fresh interpreters."""
    keys = runs[0].keys()
    return {**{key: statistics.median(run[key] for run in runs) for key in keys}, "runs": runs}
