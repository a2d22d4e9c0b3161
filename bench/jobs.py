"""Jobs per second through one worker process, and its CPU per job: ``python -m bench.jobs``.

Renders (or reuses, ``--project``) the service with ``jobs=redis`` and ``database=postgresql``,
prepares one note in PostgreSQL, then per repetition: empties the queue, queues ``--jobs``
``note_created`` jobs for that note through the service's own ``JobQueue.enqueue`` (all of them
before the worker starts), starts ``python -m <package>.worker`` as a real process with the
default ``JOBS__CONCURRENCY``, pinned to one core, and follows its JSON log until it has logged
``job_finished`` for every job (polled with a bound, never slept on). The worker's CPU time is
read from ``/proc/<pid>/stat`` as the load test does for servers.

Two windows are reported. *Steady state*, the figure to quote: from the poll that saw the
``--warmup-jobs``-th job finish to the one that saw the last, so neither the interpreter's start
and imports nor the first connections count. *Whole*: from starting the process to the last job.
The worker's Prometheus ``jobs_total`` is read at the end as a second count of what succeeded.

It is a benchmark, not a test: the exit code says whether it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.cli import make_runtime, prepare_project, service_env
from bench.load import pinned, process_cpu_seconds
from bench.measure import run_in_venv
from bench.plan import Runtime
from bench.project import REPO_ROOT, Project, template_commit
from bench.report import BUSY_LOAD_AVERAGE, emit, fmt, write_json
from bench.scenarios import NOTES_DATABASE_URL, NOTES_REDIS_URL

#: The render: the queue, and a database so that the example job reads its note.
ANSWERS = {"jobs": "redis", "database": "postgresql", "metrics": "prometheus"}
#: The worker's settings, without the env prefix. Its own service name keeps the benchmark's
#: queue apart from anything else on the same Redis; its metrics go on a free port.
WORKER_SETTINGS = {
    "ENVIRONMENT": "production",
    "LOGGING__FORMAT": "json",
    "LOGGING__LEVEL": "INFO",
    "SERVICE_NAME": "bench-jobs",
    "DATABASE__URL": NOTES_DATABASE_URL,
    "JOBS__REDIS_URL": NOTES_REDIS_URL,
    "JOBS__METRICS_PORT": "0",
}
#: Events of the worker's log that the benchmark follows.
FINISHED = "job_finished"
FAILED = ("job_attempt_failed", "job_failed")
METRICS_SERVING = "worker_metrics_serving"
#: How often the log is read while the worker runs; the log writer itself flushes every 50 ms.
POLL_SECONDS = 0.02
#: Bounds: the worker's start, and its drain of the queue on top of a floor per job.
READY_BOUND_S = 60.0
DRAIN_BOUND_S_PER_JOB = 0.1
#: The worker gets SERVER__SHUTDOWN_TIMEOUT (20 s by default) and this much more to stop.
STOP_BOUND_S = 40.0


@dataclass(frozen=True)
class Sample:
    """What was seen at one poll: the wall clock, the worker's CPU seconds, jobs finished."""

    wall_s: float
    cpu_s: float | None
    finished: int


def throughput(start: Sample, end: Sample) -> dict[str, float | None]:
    """Jobs per second and per worker CPU-second between two polls."""
    jobs = end.finished - start.finished
    wall = end.wall_s - start.wall_s
    cpu = end.cpu_s - start.cpu_s if end.cpu_s is not None and start.cpu_s is not None else None
    return {
        "jobs": jobs,
        "wall_s": wall,
        "cpu_s": cpu,
        "jobs_per_s": jobs / wall if wall > 0 else None,
        "jobs_per_cpu_s": jobs / cpu if cpu else None,
        "cpu_ms_per_job": cpu * 1e3 / jobs if cpu is not None and jobs else None,
    }


class LogFollower:
    """Counts the events of a JSON log as it grows; a line is counted once it is complete."""

    def __init__(self) -> None:
        """Start with nothing seen."""
        self.events: Counter[str] = Counter()
        self.lines = 0
        self.first: dict[str, dict[str, Any]] = {}
        self._partial = b""

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the log; keep an unfinished last line for the next call."""
        *complete, self._partial = (self._partial + data).split(b"\n")
        for line in complete:
            if not line.strip():
                continue
            self.lines += 1
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            # The service's JSON lines name the event `message` (structlog's `event`, renamed).
            event = record.get("message", record.get("event"))
            if isinstance(event, str):
                self.events[event] += 1
                self.first.setdefault(event, record)

    def read(self, log: IO[bytes]) -> None:
        """Feed whatever the file gained since the last read."""
        self.feed(log.read())


def parse_jobs_total(exposition: str) -> dict[str, float]:
    """Count attempts by outcome from the worker's Prometheus ``jobs_total``, summed over jobs."""
    totals: dict[str, float] = {}
    for line in exposition.splitlines():
        if not line.startswith("jobs_total{"):
            continue
        labels, value = line.rsplit(" ", 1)
        for label in labels.removeprefix("jobs_total{").removesuffix("}").split(","):
            key, _, quoted = label.partition("=")
            if key == "outcome":
                outcome = quoted.strip('"')
                totals[outcome] = totals.get(outcome, 0.0) + float(value)
    return totals


def summarize(repetitions: list[dict[str, Any]]) -> dict[str, float | None]:
    """Medians over repetitions of the steady-state and whole-run figures."""

    def median(window: str, key: str) -> float | None:
        values = [rep[window][key] for rep in repetitions if rep[window][key] is not None]
        return statistics.median(values) if values else None

    return {
        "jobs_per_s": median("steady", "jobs_per_s"),
        "jobs_per_cpu_s": median("steady", "jobs_per_cpu_s"),
        "cpu_ms_per_job": median("steady", "cpu_ms_per_job"),
        "whole_jobs_per_s": median("whole", "jobs_per_s"),
        "whole_cpu_ms_per_job": median("whole", "cpu_ms_per_job"),
    }


#: Where a py-spy sample's time goes: the innermost frame from one of these files names it. The
#: worker's own module is at the root of every stack, so it names none.
PROFILE_CATEGORIES = (
    ("logging", ("structlog", "/observability/", "(logging/", "orjson")),
    ("database", ("sqlalchemy", "asyncpg", "/db/", "/notes/")),
    ("redis client", ("(redis/", "taskiq_redis")),
    ("metrics", ("prometheus_client", "/jobs/metrics")),
    ("pydantic", ("pydantic",)),
    ("taskiq", ("taskiq",)),
    ("service's job glue", ("/jobs/",)),
)
#: The event loop's own frames, at both ends of a stack: the loop running a task, the transport
#: sending what a library wrote. A sample is the event loop's only when no library is in it.
EVENT_LOOP = ("asyncio", "uvloop", "selectors", "socket")


def categorize_stacks(collapsed: Iterable[str]) -> dict[str, int]:
    """Count samples per category from py-spy's raw (collapsed) output, innermost frame first.

    Each line is ``frame;frame;...;frame count``, outermost first; a sample belongs to the
    category of its innermost frame that names one (so the socket write of a query is the
    database's), to the event loop when it is all loop, else to ``other``; a thread sampled
    in native code, with no Python frame at all, has an empty stack.
    """
    counts: Counter[str] = Counter()
    for line in collapsed:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not count.isdigit():
            continue
        counts[_category(stack.split(";")) if stack else "no Python frame"] += int(count)
    return dict(counts.most_common())


def _category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, markers in PROFILE_CATEGORIES:
            if any(marker in frame for marker in markers):
                return name
    if any(marker in frame for frame in frames for marker in EVENT_LOOP):
        return "event loop"
    return "other"


@dataclass(frozen=True)
class Setup:
    """What every repetition shares: the project, where and how the worker runs, the jobs."""

    project: Project
    runtime: Runtime
    note_id: str
    jobs: int
    warmup_jobs: int


def run_repetition(setup: Setup, label: str, py_spy: str | None = None) -> dict[str, Any]:
    """Queue the jobs, start one worker, follow its log until every job finished, stop it."""
    runtime, project = setup.runtime, setup.project
    arguments = ["enqueue", "--package", project.package, "--note-id", setup.note_id]
    arguments += ["--jobs", str(setup.jobs)]
    started = time.perf_counter()
    run_in_venv(
        "bench.apps.jobs", arguments, runtime, runtime.workdir / f"{label}.enqueue.log", None
    )
    enqueue_s = time.perf_counter() - started

    log_path = runtime.workdir / f"{label}.worker.log"
    stderr_path = runtime.workdir / f"{label}.worker.stderr.log"
    command = [str(runtime.python), "-m", f"{project.package}.worker"]
    follower = LogFollower()
    profile_path = runtime.workdir / f"{label}.py-spy.txt"
    with log_path.open("wb") as log_out, stderr_path.open("wb") as err_out:
        start = Sample(time.perf_counter(), 0.0, 0)
        worker = subprocess.Popen(
            pinned(command, runtime.server_cpu),
            cwd=runtime.workdir,
            env=runtime.env,
            stdout=log_out,
            stderr=err_out,
        )
        profiler: list[subprocess.Popen[bytes]] = []

        def on_steady() -> None:
            if py_spy is not None:
                profiler.append(start_profiler(py_spy, worker.pid, profile_path))

        try:
            window_start, end = follow(worker, follower, log_path, setup, on_steady)
            for sampling in profiler:  # the steady window only: not the start, not the stop
                stop(sampling)
            metrics = read_metrics(follower)
        finally:
            for process in (*profiler, worker):
                stop(process)
    with log_path.open("rb") as log_in:  # the lines written at shutdown
        final = LogFollower()
        final.read(log_in)
    result: dict[str, Any] = {
        "enqueue_s": enqueue_s,
        "steady": throughput(window_start, end),
        "whole": throughput(start, end),
        "events": dict(final.events),
        "log_lines": final.lines,
        "log_lines_per_job": final.lines / setup.jobs,
        "jobs_total": metrics,
        "exit_code": worker.returncode,
    }
    if final.events[FINISHED] != setup.jobs:
        raise RuntimeError(
            f"{label}: the worker finished {final.events[FINISHED]} jobs, not {setup.jobs}"
        )
    if profiler:
        with profile_path.open(encoding="utf-8") as stacks:
            result["profile"] = categorize_stacks(stacks)
    return result


def follow(
    worker: subprocess.Popen[bytes],
    follower: LogFollower,
    log_path: Path,
    setup: Setup,
    on_steady: Callable[[], None],
) -> tuple[Sample, Sample]:
    """Poll the worker's log until the last job finished; the two ends of the steady window.

    ``on_steady`` is called when the window opens.
    """
    deadline = time.perf_counter() + READY_BOUND_S + DRAIN_BOUND_S_PER_JOB * setup.jobs
    window_start: Sample | None = None
    with log_path.open("rb") as log_in:
        while True:
            follower.read(log_in)
            now = Sample(
                time.perf_counter(), process_cpu_seconds(worker.pid), follower.events[FINISHED]
            )
            if window_start is None and now.finished >= setup.warmup_jobs:
                window_start = now
                on_steady()
            if now.finished >= setup.jobs and window_start is not None:
                return window_start, now
            if worker.poll() is not None:
                raise RuntimeError(
                    f"the worker exited ({worker.returncode}) after {now.finished} jobs"
                )
            if now.wall_s > deadline:
                raise RuntimeError(
                    f"only {now.finished} of {setup.jobs} jobs finished within the bound "
                    f"({dict(follower.events)})"
                )
            time.sleep(POLL_SECONDS)


def read_metrics(follower: LogFollower) -> dict[str, float] | None:
    """Read the worker's ``jobs_total`` by outcome, from the port its log names."""
    serving = follower.first.get(METRICS_SERVING)
    if serving is None:
        return None
    url = f"http://127.0.0.1:{serving['port']}/metrics"
    # The URL is http://127.0.0.1, built here: no file: or custom scheme can get in.
    with urllib.request.urlopen(url, timeout=10) as response:
        return parse_jobs_total(response.read().decode("utf-8"))


def start_profiler(py_spy: str, pid: int, out: Path) -> subprocess.Popen[bytes]:
    """Sample the worker with py-spy (raw collapsed stacks, every thread) until stopped."""
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250"]
    command += ["--nonblocking", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Send SIGINT and wait, within a bound: the worker stops as deployed, py-spy writes out."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line: the project, the number of jobs and repetitions, where results go."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.jobs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--project", type=Path, help="reuse this rendered project (no render)")
    parser.add_argument("--template", type=Path, default=REPO_ROOT, help="template repository")
    parser.add_argument("--jobs", type=int, default=5000, help="jobs queued per repetition")
    parser.add_argument("--repetitions", type=int, default=5, help="worker runs measured")
    parser.add_argument(
        "--warmup-jobs", type=int, help="jobs before the steady window opens (default: a tenth)"
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="worker setting without its env prefix (e.g. JOBS__CONCURRENCY=50)",
    )
    parser.add_argument(
        "--py-spy", metavar="PATH", help="py-spy executable: profile one more, unmeasured run"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin the worker to a core")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "bench" / "results")
    arguments = parser.parse_args(argv)
    if arguments.jobs < 2:
        parser.error("--jobs must be at least 2")
    return arguments


def report_lines(result: dict[str, Any]) -> list[str]:
    """Format the report: what ran where, one row per repetition, the medians, the profile."""
    meta = result["meta"]
    versions = ", ".join(f"{name} {value}" for name, value in meta["versions"].items() if value)
    lines = [
        f"template {meta['template']} @ {meta.get('template_commit') or '?'}",
        f"project {meta['project']}",
        f"libraries: {versions}",
        f"worker: python -m {meta['package']}.worker on cpu {meta['worker_cpu']}, settings "
        + " ".join(f"{key}={value}" for key, value in meta["settings"].items()),
        f"machine: {meta['cpu_count']} cpus, 1-minute load average "
        f"{meta['load_average_before']:.1f} before, {meta['load_average_after']:.1f} after",
    ]
    if max(meta["load_average_before"], meta["load_average_after"]) > BUSY_LOAD_AVERAGE:
        lines.append(
            "WARNING: other processes shared the cores: jobs/s is unreliable; trust jobs per "
            "worker CPU-second"
        )
    lines.append(
        f"\n{meta['jobs']} note_created jobs queued before each worker start; steady window "
        f"from job {meta['warmup_jobs']} to the last"
    )
    header = ("", "jobs/s", "jobs/CPU-s", "CPU ms/job", "whole jobs/s", "whole CPU ms/job")
    lines.append("  " + f"{header[0]:12}" + "".join(f"{cell:>17}" for cell in header[1:]))
    for index, rep in enumerate(result["repetitions"], 1):
        steady, whole = rep["steady"], rep["whole"]
        cells = (
            steady["jobs_per_s"],
            steady["jobs_per_cpu_s"],
            steady["cpu_ms_per_job"],
            whole["jobs_per_s"],
            whole["cpu_ms_per_job"],
        )
        lines.append(f"  {'run ' + str(index):12}" + "".join(f"{fmt(c):>17}" for c in cells))
    medians = result["median"]
    cells = (
        medians["jobs_per_s"],
        medians["jobs_per_cpu_s"],
        medians["cpu_ms_per_job"],
        medians["whole_jobs_per_s"],
        medians["whole_cpu_ms_per_job"],
    )
    lines.append(f"  {'median':12}" + "".join(f"{fmt(c):>17}" for c in cells))
    first = result["repetitions"][0]
    lines.append(
        f"  log lines per job {first['log_lines_per_job']:.2f}; jobs_total at the end "
        f"{first['jobs_total']}; failed attempts "
        f"{sum(rep['events'].get(name, 0) for rep in result['repetitions'] for name in FAILED)}"
    )
    profile = result.get("profile")
    if profile:
        total = sum(profile.values())
        lines.append(f"\npy-spy, one more run ({total} samples of busy threads, innermost frame):")
        lines += [f"  {name:22} {count / total:6.1%}" for name, count in profile.items()]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; on a failure say what failed in one message instead of a traceback."""
    args = parse_args(argv)
    try:
        return run(args)
    except RuntimeError as error:
        sys.stderr.write(f"bench.jobs: {error}\n")
        return 1


def run(args: argparse.Namespace) -> int:
    """Prepare the project and the note, measure the repetitions, report, write the JSON."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    try:
        project, render_timings = prepare_project(args, workdir, ANSWERS)
        settings = {**WORKER_SETTINGS, **dict(item.split("=", 1) for item in args.setting)}
        env = {"BENCH_DATABASE_URL": NOTES_DATABASE_URL, **service_env(project, settings)}
        runtime, versions = make_runtime(project, env, workdir, not args.no_pin)
        prepared = workdir / "prepare.json"
        arguments = ["prepare", "--project", str(project.root), "--out", str(prepared)]
        run_in_venv("bench.apps.jobs", arguments, runtime, workdir / "prepare.log", None)
        setup = Setup(
            project=project,
            runtime=runtime,
            note_id=json.loads(prepared.read_text("utf-8"))["note_id"],
            jobs=args.jobs,
            warmup_jobs=args.warmup_jobs if args.warmup_jobs is not None else args.jobs // 10,
        )
        meta: dict[str, Any] = {
            "template": str(args.template.resolve()),
            "template_commit": template_commit(args.template),
            "project": str(project.root),
            "package": project.package,
            "versions": versions,
            "render": render_timings,
            "settings": settings,
            "jobs": setup.jobs,
            "warmup_jobs": setup.warmup_jobs,
            "worker_cpu": runtime.server_cpu,
            "cpu_count": os.cpu_count(),
            "load_average_before": os.getloadavg()[0],
        }
        repetitions = [run_repetition(setup, f"run{index}") for index in range(args.repetitions)]
        result: dict[str, Any] = {
            "meta": meta,
            "repetitions": repetitions,
            "median": summarize(repetitions),
        }
        if args.py_spy:
            profiled = run_repetition(setup, "profiled", py_spy=args.py_spy)
            result["profile"] = profiled.get("profile")
            result["profiled_run"] = profiled
        meta["load_average_after"] = os.getloadavg()[0]
        emit("\n".join(report_lines(result)) + "\n")
        path = write_json(result, args.results_dir, "jobs")
        emit(f"\nresult written to {path}\n")
    finally:
        if args.keep:
            emit(f"work directory kept: {workdir}\n")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
