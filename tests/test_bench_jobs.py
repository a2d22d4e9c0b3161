"""The jobs benchmark's own arithmetic and parsing (bench/jobs.py), without a worker to run.

Timings are never judged here; what is checked is that the benchmark counts what the worker
logged, computes its rates from the right window, reads Prometheus' exposition, and sorts a
profile's samples as its report says.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.jobs import (
    LogFollower,
    Sample,
    categorize_stacks,
    parse_args,
    parse_jobs_total,
    summarize,
    throughput,
)


def line(message: str, **fields: object) -> bytes:
    """One line of the service's JSON log (structlog's event is renamed ``message``)."""
    return json.dumps({"message": message, "level": "info", **fields}).encode() + b"\n"


def test_a_line_is_counted_once_complete() -> None:
    """Lines split across reads count once their newline arrives; a non-JSON line names none."""
    follower = LogFollower()
    data = line("worker_metrics_serving", port=9100) + line("job_finished") + b"Traceback\n"
    follower.feed(data[:-20])
    assert follower.events["job_finished"] == 0
    follower.feed(data[-20:])
    assert follower.events == {"worker_metrics_serving": 1, "job_finished": 1}
    assert follower.lines == 3
    assert follower.first["worker_metrics_serving"]["port"] == 9100


def test_the_follower_reads_what_the_file_gained(tmp_path: Path) -> None:
    """Reading the open file again sees only the lines written since."""
    log = tmp_path / "worker.log"
    log.write_bytes(line("job_finished"))
    follower = LogFollower()
    with log.open("rb") as reader:
        follower.read(reader)
        with log.open("ab") as writer:
            writer.write(line("job_finished") + line("job_started"))
        follower.read(reader)
    assert follower.events == {"job_finished": 2, "job_started": 1}


def test_throughput_counts_the_window_only() -> None:
    """Jobs, wall and CPU between two polls; CPU ms per job is the inverse of jobs per CPU-s."""
    rates = throughput(Sample(10.0, 2.0, 500), Sample(20.0, 6.0, 5000))
    assert rates["jobs"] == 4500
    assert rates["jobs_per_s"] == pytest.approx(450.0)
    assert rates["jobs_per_cpu_s"] == pytest.approx(1125.0)
    assert rates["cpu_ms_per_job"] == pytest.approx(4000 / 4500)


def test_throughput_without_cpu_time_gives_none() -> None:
    """Off Linux there is no /proc: the CPU figures are missing, not zero."""
    rates = throughput(Sample(0.0, None, 0), Sample(1.0, None, 10))
    assert rates["jobs_per_s"] == 10
    assert rates["jobs_per_cpu_s"] is None
    assert rates["cpu_ms_per_job"] is None


def test_summary_is_the_median_of_repetitions() -> None:
    """Each figure is the median over repetitions of the steady and the whole window."""
    repetitions = [
        {
            "steady": throughput(Sample(0, 0, 0), Sample(wall, cpu, 100)),
            "whole": throughput(Sample(0, 0, 0), Sample(wall + 1, cpu + 1, 100)),
        }
        for wall, cpu in ((1.0, 0.5), (2.0, 1.0), (4.0, 0.25))
    ]
    medians = summarize(repetitions)
    assert medians["jobs_per_s"] == 50
    assert medians["jobs_per_cpu_s"] == 200
    assert medians["cpu_ms_per_job"] == 5
    assert medians["whole_jobs_per_s"] == pytest.approx(100 / 3)


def test_jobs_total_is_summed_by_outcome() -> None:
    """Only the counter's samples count, not its `_created` twin or other metrics."""
    exposition = "\n".join(
        [
            "# HELP jobs_total Attempts of jobs, by job and outcome.",
            'jobs_total{job="a",outcome="succeeded"} 4998.0',
            'jobs_total{job="b",outcome="succeeded"} 2.0',
            'jobs_total{job="a",outcome="retried"} 1.0',
            'jobs_created{job="a",outcome="succeeded"} 1.7e+09',
            'job_duration_seconds_count{job="a",outcome="succeeded"} 4998.0',
        ]
    )
    assert parse_jobs_total(exposition) == {"succeeded": 5000.0, "retried": 1.0}


def test_profile_samples_go_to_the_innermost_library() -> None:
    """A query's socket write is the database's, a loop with no library in it the loop's."""
    loop = "run_forever (asyncio/base_events.py:1);_run_once (asyncio/base_events.py:2)"
    stacks = [
        f"{loop};run (taskiq/receiver/receiver.py:3);execute (asyncpg/connection.py:4);"
        "write (asyncio/selector_events.py:5) 7",
        f"{loop};run (taskiq/receiver/receiver.py:3);info (structlog/stdlib.py:6) 2",
        f"{loop};run (taskiq/receiver/receiver.py:3) 3",
        f"{loop};select (selectors.py:7) 1",
        "main (my_tool.py:1) 1",
        " 4",
        "garbage",
    ]
    assert categorize_stacks(stacks) == {
        "database": 7,
        "taskiq": 3,
        "logging": 2,
        "event loop": 1,
        "other": 1,
        "no Python frame": 4,
    }


def test_too_few_jobs_are_refused() -> None:
    """A steady window needs at least two jobs."""
    with pytest.raises(SystemExit):
        parse_args(["--jobs", "1"])
    assert parse_args(["--jobs", "2"]).jobs == 2
