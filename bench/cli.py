"""Render (or reuse) the service, measure it against plain FastAPI, report: ``python -m bench``.

The exit code says whether the benchmark *ran*, never whether a target was met: these machines
are shared and noisy, so a number is information for a human, not a gate.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.measure import (
    Targets,
    measure_coldstart,
    measure_inprocess,
    measure_load,
    measure_middleware,
    run_in_venv,
)
from bench.plan import FULL, QUICK, Plan, Runtime, choose_cpus, with_overrides
from bench.project import (
    REPO_ROOT,
    Project,
    clean_env,
    describe_venv,
    install,
    read_answers,
    read_package_name,
    render,
    template_commit,
)
from bench.report import emit, render_report, write_json
from bench.scenarios import DEFAULT_SCENARIOS, SCENARIOS, Scenario

MEASUREMENTS = ("load", "inprocess", "middleware", "coldstart")
SIZE_HELP = {
    "rounds": "load rounds; each measures both apps, alternating who goes first",
    "duration_s": "seconds of one wrk run",
    "warmup_s": "seconds of wrk warm-up per app, not recorded",
    "connections": "wrk keep-alive connections",
    "iterations": "in-process requests per repeat",
    "repeats": "in-process repeats per app",
    "cold_runs": "fresh interpreters per app for the cold start",
    "ablation_slices": "short alternating rounds per repeat in the per-middleware run",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line: a preset (full by default, ``--quick`` for a smoke run) plus overrides."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of a few seconds")
    parser.add_argument("--project", type=Path, help="reuse this rendered project (no render)")
    parser.add_argument("--template", type=Path, default=REPO_ROOT, help="template repository")
    parser.add_argument(
        "--data", action="append", default=[], metavar="KEY=VALUE", help="copier answer"
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="service setting without its env prefix, on top of the scenario's "
        "(e.g. DATABASE__POOL_SIZE=20)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help=f"repeatable; default: {', '.join(DEFAULT_SCENARIOS)}",
    )
    parser.add_argument("--skip", action="append", default=[], choices=MEASUREMENTS)
    parser.add_argument("--no-pin", action="store_true", help="do not pin app and wrk to cores")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the service")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--results-dir", type=Path, default=REPO_ROOT / "bench" / "results")
    sizes = parser.add_argument_group("sizes (override the preset; see bench/plan.py)")
    for name, meaning in SIZE_HELP.items():
        sizes.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, help=meaning)
    return parser.parse_args(argv)


def choose_plan(args: argparse.Namespace) -> Plan:
    """Take the preset and apply the command line's explicit sizes."""
    overrides = {name: getattr(args, name) for name in SIZE_HELP}
    return with_overrides(QUICK if args.quick else FULL, overrides)


def required_answers(args: argparse.Namespace, scenarios: list[Scenario]) -> dict[str, str]:
    """Merge the answers of ``--data`` with those the scenarios need; refuse contradictions."""
    answers: dict[str, str] = {}
    sources: dict[str, str] = {}
    wanted = [("--data", *item.split("=", 1)) for item in args.data]
    wanted += [(f"scenario {s.name}", *item) for s in scenarios for item in s.answers.items()]
    for source, key, value in wanted:
        if answers.setdefault(key, value) != value:
            raise RuntimeError(
                f"{source} needs {key}={value}, but {sources[key]} needs {key}={answers[key]}: "
                "run these scenarios separately"
            )
        sources.setdefault(key, source)
    return answers


def check_answers(root: Path, answers: dict[str, str]) -> None:
    """Refuse a reused project rendered with other answers than the scenarios need."""
    recorded = read_answers(root)
    wrong = {key: value for key, value in answers.items() if recorded.get(key) != value}
    if wrong:
        needed = " ".join(f"--data {key}={value}" for key, value in wrong.items())
        raise RuntimeError(
            f"{root} was rendered with other answers than the scenarios need "
            f"({', '.join(f'{key}={recorded.get(key)}' for key in wrong)}); render one with "
            f"{needed}, or drop --project"
        )


def prepare_project(
    args: argparse.Namespace, workdir: Path, answers: dict[str, str]
) -> tuple[Project, dict[str, float] | None]:
    """Render and install a fresh service, or reuse ``--project`` as it is.

    A reused project is synced only when it has no venv yet: ``uv sync --no-dev`` would remove
    the dev tools a developer installed there.
    """
    if args.project is None:
        root = workdir / "project"
        timings = {"copier_s": render(args.template.resolve(), root, answers)}
        timings["install_s"] = install(root)
        return Project(root, read_package_name(root)), timings
    root = args.project.resolve()
    check_answers(root, answers)
    project = Project(root, read_package_name(root))
    if not project.python.exists():
        return project, {"install_s": install(root)}
    return project, None


BASE_SETTINGS = {
    "ENVIRONMENT": "production",
    "LOGGING__FORMAT": "json",
    "LOGGING__LEVEL": "INFO",
    "LOGGING__ACCESS_LOG": "true",
    # No probe paths: /health is logged, counted and rate limited like any route (the limit is
    # out of reach, so the limiter checks and counts every request and never answers 429).
    "HTTP__PROBE_PATHS": "[]",
    "RATE_LIMIT__DEFAULT": "100000000/minute",
}


def service_env(project: Project, settings: dict[str, str]) -> dict[str, str]:
    """Prefix settings names with the service's env prefix."""
    return {project.env_prefix + key: value for key, value in settings.items()}


def make_runtime(
    project: Project, env: dict[str, str], workdir: Path, pin: bool
) -> tuple[Runtime, dict[str, str | None]]:
    """Use uvloop and httptools when the venv has them (uvicorn's fast extras), for both apps."""
    versions = describe_venv(project)
    server_cpu, client_cpu = choose_cpus(pin)
    runtime = Runtime(
        python=project.python,
        loop="uvloop" if versions.get("uvloop") else "asyncio",
        http="httptools" if versions.get("httptools") else "h11",
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        env=clean_env(project.env_prefix, env),
        workdir=workdir,
    )
    return runtime, versions


def run_scenario(
    scenario: Scenario, project: Project, plan: Plan, base: Runtime, args: argparse.Namespace
) -> dict[str, Any]:
    """Run every measurement not skipped for one scenario, with its settings and its own files."""
    workdir = base.workdir / scenario.name
    workdir.mkdir()
    settings = {**scenario.service_env, **dict(item.split("=", 1) for item in args.setting)}
    env = {**base.env, **scenario.env, **service_env(project, settings)}
    runtime = replace(base, env=env, workdir=workdir)
    scenario = prepare_data(scenario, project, runtime)
    plan = replace(plan, iterations=max(1, plan.iterations // scenario.iterations_divisor))
    targets: Targets = {"plain": scenario.plain_target, "service": project.target}
    result: dict[str, Any] = {
        "description": scenario.description,
        "targets": targets,
        "target": {"ratio": scenario.target_ratio, "source": scenario.target_source},
        "iterations": plan.iterations,
    }
    if "load" not in args.skip:
        result["load"] = measure_load(targets, scenario, plan, runtime)
    if "inprocess" not in args.skip:
        result["inprocess"] = measure_inprocess(targets, scenario, plan, runtime, args.profile)
    if "middleware" not in args.skip:
        result["middleware"] = measure_middleware(targets, scenario, plan, runtime)
    if "coldstart" not in args.skip:
        result["coldstart"] = measure_coldstart(targets, plan, runtime)
    return result


def prepare_data(scenario: Scenario, project: Project, runtime: Runtime) -> Scenario:
    """Run the scenario's data preparation in the venv; it says which path to ask and what for.

    It may add headers to send, such as a token it issued.
    """
    if scenario.prepare is None:
        return scenario
    out = runtime.workdir / "prepare.json"
    arguments = ["--project", str(project.root), "--out", str(out)]
    run_in_venv(scenario.prepare, arguments, runtime, runtime.workdir / "prepare.log", None)
    prepared = json.loads(out.read_text("utf-8"))
    headers = scenario.headers + tuple((name, value) for name, value in prepared.get("headers", ()))
    return replace(
        scenario, path=prepared["path"], expected_json=prepared["expected_json"], headers=headers
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; on a failure say what failed in one message instead of a traceback."""
    args = parse_args(argv)
    try:
        return run(args)
    except RuntimeError as error:
        sys.stderr.write(f"bench: {error}\n")
        return 1


def run(args: argparse.Namespace) -> int:
    """Prepare the project, measure every scenario, print the report, write the JSON result."""
    plan = choose_plan(args)
    scenarios = [SCENARIOS[name] for name in args.scenario or DEFAULT_SCENARIOS]
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        project, render_timings = prepare_project(args, workdir, required_answers(args, scenarios))
        runtime, versions = make_runtime(
            project, service_env(project, BASE_SETTINGS), workdir, not args.no_pin
        )
        meta: dict[str, Any] = {
            "template": str(args.template.resolve()),
            "template_commit": template_commit(args.template),
            "project": str(project.root),
            "mode": "quick" if args.quick else "full",
            "plan": asdict(plan),
            "runtime": {key: value for key, value in asdict(runtime).items() if key != "env"},
            "versions": versions,
            "render": render_timings,
            "cpu_count": os.cpu_count(),
            "load_average_before": os.getloadavg()[0],
        }
        # Cold start does not depend on the endpoint: it is measured with the first scenario only.
        later = argparse.Namespace(**{**vars(args), "skip": [*args.skip, "coldstart"]})
        result = {
            "meta": meta,
            "scenarios": {
                s.name: run_scenario(s, project, plan, runtime, args if index == 0 else later)
                for index, s in enumerate(scenarios)
            },
        }
        meta["load_average_after"] = os.getloadavg()[0]
        emit(render_report(result))
        if args.profile:
            emit(profiles(result))
        path = write_json(result, args.results_dir, meta["mode"])
        emit(f"\nresult written to {path}\n")
    finally:
        if args.keep:
            emit(f"work directory kept: {workdir}\n")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def profiles(result: dict[str, Any]) -> str:
    """Collect the service's cProfile summaries, one per scenario."""
    parts = []
    for name, scenario in result["scenarios"].items():
        text = scenario.get("inprocess", {}).get("service", {}).get("profile")
        if text:
            parts.append(f"\n=== cProfile of the service, scenario {name} (main thread)\n{text}")
    return "".join(parts)
