"""Show that the richest rendered suite passes again and again on a machine with no idle core.

    uv run python -m tests.under_load

Renders the combination with the most moving parts (PostgreSQL, Sentry and Cloud Error
Reporting, Redis rate limits, OTLP tracing, Prometheus metrics), installs it with ``uv sync``,
starts one CPU hog per core, and runs the rendered project's ``pytest -W error`` three times in
a row while they spin. Each run's result is printed; the exit status is non-zero if any run
failed. The rendered suite must not depend on how fast the machine is: it waits for events, not
for time, and every wait it has is bounded far above what a loaded machine needs.

Not a test module (pytest does not collect it): it takes minutes, and its point is the load it
puts on the machine. It needs the servers ``.ci/run`` starts (PostgreSQL, Redis).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.databases import Databases
from tests.matrix import Combination, rendered_test_env
from tests.projects import COMMAND_TIMEOUT_S, UV, CommandResult, project_env, render, run

RICHEST = Combination(
    answers={
        "logging_backend": "structlog",
        "database": "postgresql",
        "error_aggregators": ("sentry", "gcp"),
        "python_version": "3.12",
        "metrics": "prometheus",
        "tracing": "otlp",
        "rate_limit_storage": "redis",
    },
    id="under-load-db-postgresql-err-sentry+gcp-tracing-otlp-rl-redis-metrics-prometheus",
)
RUNS = 3
PYTEST = (UV, "run", "pytest", "-W", "error")
#: A hog stops by itself after this long, even if this script is killed before it can stop it.
HOG_SECONDS = RUNS * COMMAND_TIMEOUT_S
_HOG = (
    "import sys, time\n"
    "end = time.monotonic() + float(sys.argv[1])\n"
    "while time.monotonic() < end:\n"
    "    pass\n"
)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def cpu_hogs(count: int, seconds: float = HOG_SECONDS) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Keep ``count`` cores busy with one spinning process each.

    Each ends by itself after ``seconds``, and is stopped (terminated, then killed) when the
    block ends, whatever happens in it.
    """
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            hogs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _HOG, str(seconds)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        yield hogs
    finally:
        for hog in hogs:
            hog.terminate()
        for hog in hogs:
            try:
                hog.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hog.kill()
                hog.wait(timeout=10)


def _summary(result: CommandResult) -> str:
    """Return the last non-empty line of pytest's output: its counts and time."""
    lines = [line.strip("= ") for line in result.output.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str]) -> int:
    """Render, install, load the machine, run the suite ``RUNS`` times; 0 if every run passed."""
    if argv:
        sys.stderr.write("usage: python -m tests.under_load\n")
        return 2
    databases = Databases()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="under-load-") as base:
        project = Path(base) / "my-service"
        try:
            env = project_env(RICHEST.python_version) | rendered_test_env(RICHEST)
            env |= databases.env_for(RICHEST)
            _write(f"rendering {RICHEST.id} into {project}")
            render(project, RICHEST.copier_data())
            sync = run((UV, "sync"), project, env)
            if not sync.ok:
                _write(sync.explain())
                return 1
            cores = _cores()
            _write(f"{cores} CPU hogs, one per core; the rendered suite runs {RUNS} times")
            with cpu_hogs(cores):
                for number in range(1, RUNS + 1):
                    started = time.monotonic()
                    result = run(PYTEST, project, env)
                    elapsed = time.monotonic() - started
                    verdict = "passed" if result.ok else f"FAILED (exit {result.returncode})"
                    _write(f"run {number}/{RUNS}: {verdict} in {elapsed:.1f} s: {_summary(result)}")
                    if not result.ok:
                        failed += 1
                        _write(result.explain())
        finally:
            databases.drop_all()
    _write(f"{RUNS - failed} of {RUNS} runs passed under load")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
