"""How much to measure (quick smoke run or full run) and where the processes run."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Plan:
    """The sizes of one benchmark run; durations are bounded so a full run takes minutes."""

    rounds: int  # load-test rounds; each measures both apps, order alternating (ABBA...)
    duration_s: int  # one wrk run
    warmup_s: int  # wrk warm-up per server, not recorded
    connections: int  # concurrent keep-alive connections from wrk
    iterations: int  # in-process requests per repeat
    repeats: int  # in-process repeats per app
    inprocess_warmup: int  # in-process requests before timing
    cold_runs: int  # fresh interpreters per app for cold start (plus one discarded)
    ablation_slices: int  # short alternating rounds per in-process repeat, per-middleware run


QUICK = Plan(
    rounds=1,
    duration_s=1,
    warmup_s=1,
    connections=32,
    iterations=300,
    repeats=3,
    inprocess_warmup=100,
    cold_runs=2,
    ablation_slices=25,
)
FULL = Plan(
    rounds=8,
    duration_s=6,
    warmup_s=3,
    connections=32,
    iterations=5000,
    repeats=9,
    inprocess_warmup=1000,
    cold_runs=9,
    ablation_slices=25,
)


def with_overrides(plan: Plan, overrides: dict[str, int | None]) -> Plan:
    """Apply the command line's explicit sizes on top of a preset."""
    return replace(plan, **{key: value for key, value in overrides.items() if value is not None})


@dataclass(frozen=True)
class Runtime:
    """Where and how the apps run: the shared venv, server implementation and CPU pinning."""

    python: Path
    loop: str  # uvicorn --loop, and the in-process event loop
    http: str  # uvicorn --http
    server_cpu: int | None  # the apps (server, in-process, cold start) run on this core
    client_cpu: int | None  # wrk runs on this one
    env: dict[str, str]
    workdir: Path


def choose_cpus(pin: bool) -> tuple[int | None, int | None]:
    """Pin the app to one core and wrk to another when there are two and taskset exists.

    One uvicorn worker uses one core; giving wrk its own keeps the load generator from stealing
    the server's CPU, which on a 2-core machine is the largest source of noise.
    """
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not pin or len(usable) < 2 or shutil.which("taskset") is None:
        return None, None
    return usable[0], usable[1]
