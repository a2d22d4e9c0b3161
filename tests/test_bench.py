"""The benchmark still runs against the template as it is now, and refuses what it cannot measure.

Timings are never judged here (DEVELOPERS.md: timings belong in benchmarks); what is checked is
that every scenario of issues 3 and 5 runs end to end on a rendered project: the data is
prepared in a real PostgreSQL, both apps give the same answer, the service really wrote one log
line per request, and the per-middleware table names every middleware the edge scenario is
about. A tiny in-process run is enough for that; the load test needs wrk and is left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Projects
from tests.databases import POSTGRES
from tests.matrix import Combination
from tests.projects import REPO_ROOT

#: The answers the edge and notes-get scenarios need, on the structlog pipeline. No tracing, as
#: bench/run renders it: with no collector to take them, an OTLP exporter retries its spans for
#: seconds when each measured process exits.
_BENCH_ANSWERS = {
    "logging_backend": "structlog",
    "database": "postgresql",
    "metrics": "prometheus",
    "rate_limit_storage": "memory",
    "tracing": "none",
}
_EDGE_MIDDLEWARE = {
    "SecurityHeadersMiddleware",
    "ProblemCORSMiddleware",
    "BodyLimitMiddleware",
    "ProxyHeadersMiddleware",
    "RateLimitMiddleware",
    "RequestPipelineMiddleware",
    "RequestMetrics",
    "AccessLog",
}


#: The combination the scenarios run on, rendered for this module: the matrix is pairwise, so
#: none of its rows need hold these answers together.
COMBINATION = Combination(
    answers={"python_version": "3.12", **_BENCH_ANSWERS},
    id="bench-" + "-".join(_BENCH_ANSWERS.values()),
)
pytestmark = pytest.mark.parametrize(
    "combination",
    [pytest.param(COMBINATION, id=COMBINATION.id, marks=pytest.mark.xdist_group(COMBINATION.id))],
)


def run_bench(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bench`` from the template repository, as a developer does."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def drop_database(name: str) -> None:
    """Drop the benchmark's database (it recreates it itself at the start of a run)."""
    subprocess.run(
        [
            "psql",
            f"--host={POSTGRES['host']}",
            f"--port={POSTGRES['port']}",
            f"--username={POSTGRES['user']}",
            "--dbname=postgres",
            "--command",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )


def assert_one_access_line_per_request(measured: dict[str, int]) -> None:
    """One access line per request, plus the few lines of startup and shutdown."""
    assert measured["requests"] <= measured["log_lines"] <= measured["requests"] + 10


def test_edge_and_notes_scenarios_run(
    combination: Combination, projects: Projects, tmp_path: Path
) -> None:
    """A tiny run of both scenarios measures what it says it measures."""
    project = projects.synced(combination)
    project.require_installed()
    database = f"bench_notes_test_{os.getpid()}"
    url = (
        f"postgresql+asyncpg://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{database}"
    )
    try:
        completed = run_bench(
            *("--quick", "--project", str(project.path), "--results-dir", str(tmp_path)),
            *("--scenario", "edge", "--scenario", "notes-get"),
            *("--skip", "load", "--skip", "coldstart"),
            *("--iterations", "20", "--repeats", "1", "--ablation-slices", "2"),
            env={"BENCH_DATABASE_URL": url},
        )
    finally:
        drop_database(database)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [result_file] = tmp_path.glob("*-quick.json")
    scenarios = json.loads(result_file.read_text("utf-8"))["scenarios"]

    edge = scenarios["edge"]
    assert edge["inprocess"]["plain"]["log_lines"] == 0
    assert_one_access_line_per_request(edge["inprocess"]["service"])
    assert set(edge["middleware"]["cost_us"]) >= _EDGE_MIDDLEWARE

    notes = scenarios["notes-get"]
    assert notes["targets"]["plain"] == "bench.apps.notes:create_app"
    for app in ("plain", "service"):
        assert notes["inprocess"][app]["cpu_us_best"] > 0
    assert_one_access_line_per_request(notes["inprocess"]["service"])
    assert "notes-get" in completed.stdout
    assert "issue 3" in completed.stdout


def test_contradicting_answers_are_refused(combination: Combination, projects: Projects) -> None:
    """Scenarios that need other answers than asked, or than the project has, are refused."""
    contradiction = run_bench("--scenario", "notes-get", "--data", "database=sqlite")
    assert contradiction.returncode == 1
    assert "needs database=postgresql" in contradiction.stderr
    assert "run these scenarios separately" in contradiction.stderr

    project = projects.synced(combination)
    project.require_rendered()
    other = run_bench("--project", str(project.path), "--data", "logging_backend=loguru")
    assert other.returncode == 1
    assert "was rendered with other answers" in other.stderr
    assert "--data logging_backend=loguru" in other.stderr
