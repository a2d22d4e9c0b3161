"""The rendered service's shipping files, checked without a Docker engine.

- The Dockerfile passes hadolint, and its build stage is replayed outside Docker: the same
  ``uv sync`` commands in a clean directory, first the dependencies alone, then the service.
  The runtime stage's ``CMD`` then serves, its ``HEALTHCHECK`` command passes against it, and
  SIGTERM stops it cleanly.
- The GitHub workflow, the compose file and the dependabot config validate against the
  schemas check-jsonschema ships (no network), and so do the template repository's workflows.
- The pre-commit configuration is valid and carries the checks that protect ``copier update``.

Each check also runs once on a deliberately broken file, to prove the checker can fail.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.projects import project_env
from tests.projects import run as run_in
from tests.shipping_support import Sandbox, Stage, parse
from tests.update_support import REPO_ROOT, init_template_repo, render, tool

PACKAGE = "my_service"
PYTHON = "3.12"
STARTUP_TIMEOUT_S = 30
SHUTDOWN_TIMEOUT_S = 20

pytestmark = pytest.mark.xdist_group("shipping")


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a scratch git repository holding this checkout's template."""
    return init_template_repo(tmp_path_factory.mktemp("shipping-template") / "template")


@pytest.fixture(scope="module")
def with_redis(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render with Redis-backed rate limiting: compose and CI then carry a Redis server."""
    destination = tmp_path_factory.mktemp("shipping-redis") / "my-service"
    render(template_repo, destination, data={"rate_limit_storage": "redis"})
    return destination


@pytest.fixture(scope="module")
def project(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render the default answers once, with the post-render tasks, and lock it (uv.lock)."""
    destination = tmp_path_factory.mktemp("shipping") / "my-service"
    render(template_repo, destination, data={"python_version": PYTHON})
    locked = run_in(["uv", "lock"], destination, project_env(PYTHON))
    assert locked.ok, locked.explain()
    return destination


def check(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a checker and return its result (the caller asserts on the exit status)."""
    return subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )


def stages(project: Path) -> list[Stage]:
    """Return the rendered Dockerfile's stages."""
    return parse((project / "Dockerfile").read_text(encoding="utf-8"))


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint(project: Path, tmp_path: Path) -> None:
    """Hadolint reports nothing, not even style notes; a shell-form CMD would be reported."""
    result = check(tool("hadolint"), "Dockerfile", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr

    broken = tmp_path / "Dockerfile"
    text = (project / "Dockerfile").read_text(encoding="utf-8")
    broken.write_text(
        text.replace('CMD ["python", "-m", "my_service"]', "CMD python -m my_service")
    )
    result = check(tool("hadolint"), str(broken), cwd=tmp_path)
    assert result.returncode != 0
    assert "DL3025" in result.stdout


def test_dockerfile_shape(project: Path) -> None:
    """Two stages; the final one is slim, unprivileged, healthchecked and exec-form."""
    build, runtime = stages(project)
    assert build.base == runtime.base == f"python:{PYTHON}-slim"
    assert build.env()["UV_COMPILE_BYTECODE"] == "1"
    user = runtime.all("USER")[-1].args
    assert user.split(":")[0] not in {"0", "root"}
    (healthcheck,) = runtime.all("HEALTHCHECK")
    assert healthcheck.exec_form() is not None
    assert runtime.all("CMD")[-1].exec_form() == ["python", "-m", PACKAGE]
    # No secrets baked in: nothing secret-looking in ENV or ARG, and .env stays out of the build.
    for stage in (build, runtime):
        names = " ".join([*stage.env(), *(a.args for a in stage.all("ARG"))]).upper()
        for word in ("PASSWORD", "SECRET", "TOKEN", "API_KEY"):
            assert word not in names
    dockerignore = (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert ".env" in dockerignore
    assert ".git" in dockerignore
    # Everything the build copies from the context is left in it by .dockerignore.
    ignored = [line for line in dockerignore if line and not line.startswith(("#", "!"))]
    for instruction in build.all("COPY"):
        if "--from=" in instruction.args:
            continue
        for source in instruction.args.split()[:-1]:
            assert (project / source).exists(), source
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


def free_port() -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_dockerfile_build_and_run_steps_work_outside_docker(project: Path, tmp_path: Path) -> None:
    """Replay the build stage in a clean directory, then serve, probe and stop like Docker."""
    build, runtime = stages(project)
    env = project_env(PYTHON)
    sandbox = Sandbox(root=tmp_path / "image", project=project, base_env=env)
    runs = []
    for instruction in build.instructions:
        result = sandbox.apply(instruction)
        if result is not None:
            assert result.returncode == 0, f"{instruction.args}\n{result.stdout}{result.stderr}"
            runs.append(instruction.args)
    assert len(runs) == 2, runs
    assert "--no-install-project" in runs[0]

    venv_python = tmp_path / "image" / "app" / ".venv" / "bin" / "python"
    assert venv_python.is_file(), "the build stage must leave the environment at /app/.venv"
    # A regular install: importable from anywhere, sources not needed, no dev tools.
    shutil.rmtree(sandbox.path("/src"))
    probe = check(
        str(venv_python),
        "-c",
        f"import {PACKAGE}, fastapi; print({PACKAGE}.__file__)",
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert "site-packages" in probe.stdout
    assert check(str(venv_python), "-c", "import pytest", cwd=tmp_path).returncode != 0
    compiled = list((tmp_path / "image" / "app" / ".venv").rglob(f"{PACKAGE}/__pycache__/*.pyc"))
    assert compiled, "UV_COMPILE_BYTECODE must leave compiled bytecode in the image"

    port = free_port()
    run_env = {
        **env,
        **runtime.env(),
        "PATH": f"{venv_python.parent}{os.pathsep}{env['PATH']}",
        f"{PACKAGE.upper()}_SERVER__HOST": "127.0.0.1",
        f"{PACKAGE.upper()}_SERVER__PORT": str(port),
    }
    workdir = sandbox.path(runtime.all("WORKDIR")[-1].args)
    workdir.mkdir(parents=True, exist_ok=True)
    healthcheck = runtime.all("HEALTHCHECK")[0].exec_form()
    assert healthcheck is not None

    def probe_health() -> int:
        return subprocess.run(
            healthcheck, cwd=workdir, env=run_env, capture_output=True, check=False, timeout=10
        ).returncode

    assert probe_health() != 0, "the probe must fail while nothing serves"
    server = subprocess.Popen(  # the Dockerfile's own CMD
        runtime.all("CMD")[-1].exec_form() or [],
        cwd=workdir,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while probe_health() != 0:
            assert server.poll() is None, "the service exited during startup"
            assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=SHUTDOWN_TIMEOUT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    # uvicorn shuts down gracefully, then re-raises the signal it caught: Docker sees 143.
    assert server.returncode in {0, -signal.SIGTERM}, output
    assert "Application shutdown complete." in output, output
    assert "Traceback" not in output, output
    assert probe_health() != 0


# --- YAML and schemas -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "schema"),
    [
        (".github/workflows/ci.yml", "vendor.github-workflows"),
        ("docker-compose.yml", "vendor.compose-spec"),
        (".github/dependabot.yml", "vendor.dependabot"),
    ],
)
@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_rendered_config_matches_its_schema(
    request: pytest.FixtureRequest, tmp_path: Path, relative: str, schema: str, storage: str
) -> None:
    """Each file validates; with its top-level structure broken it does not."""
    project: Path = request.getfixturevalue("with_redis" if storage == "redis" else "project")
    checker = tool("check-jsonschema")
    result = check(checker, "--builtin-schema", schema, relative, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr

    data = yaml.safe_load((project / relative).read_text(encoding="utf-8"))
    broken = tmp_path / Path(relative).name
    broken.write_text(yaml.safe_dump({**data, "unexpected-top-level-key": True}), encoding="utf-8")
    result = check(checker, "--builtin-schema", schema, str(broken), cwd=tmp_path)
    assert result.returncode != 0


def test_redis_is_a_healthy_dependency_in_compose_and_a_ci_service(with_redis: Path) -> None:
    """With Redis chosen the app waits for a healthy Redis; CI tests against a real one."""
    compose = yaml.safe_load((with_redis / "docker-compose.yml").read_text(encoding="utf-8"))
    app, redis = compose["services"]["app"], compose["services"]["redis"]
    assert app["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert app["environment"][f"{PACKAGE.upper()}_RATE_LIMIT__REDIS_URL"].startswith(
        "redis://redis:"
    )
    assert "healthcheck" in redis
    workflow = yaml.safe_load(
        (with_redis / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    )
    test_job = workflow["jobs"]["test"]
    assert "redis" in test_job["services"]
    assert test_job["env"]["TEST_REDIS_URL"].startswith("redis://127.0.0.1:6379")


def test_memory_storage_renders_no_redis(project: Path) -> None:
    """Without Redis chosen nothing mentions a Redis server."""
    compose = yaml.safe_load((project / "docker-compose.yml").read_text(encoding="utf-8"))
    assert set(compose["services"]) == {"app"}
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert "redis" not in workflow.lower()


def test_rendered_workflow_uses_the_chosen_python_and_escapes_expressions(project: Path) -> None:
    """GitHub expressions survive rendering verbatim; the Python version is the answer."""
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert "${{ github.workflow }}-${{ github.ref }}" in workflow
    data = yaml.safe_load(workflow)
    assert data["env"]["UV_PYTHON"] == PYTHON
    assert set(data["jobs"]) == {"lint", "typecheck", "test"}
    commands = [step.get("run", "") for job in data["jobs"].values() for step in job["steps"]]
    for expected in ("uv run ruff check", "uv run ruff format --check", "uv run mypy", "pytest"):
        assert any(expected in command for command in commands), expected


def test_template_repository_workflows_match_the_schema() -> None:
    """The template's own CI workflows validate too."""
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows, "the template repository has no workflow"
    result = check(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        *map(str, workflows),
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- pre-commit and Makefile ------------------------------------------------------------------


def test_pre_commit_config_is_valid_and_guards_updates(project: Path) -> None:
    """pre-commit accepts the config; it blocks conflict markers and ``.rej`` files."""
    result = check(tool("pre-commit"), "validate-config", ".pre-commit-config.yaml", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"check-merge-conflict", "no-rej-files", "ruff-check", "ruff-format", "mypy"} <= set(
        hooks
    )
    assert hooks["no-rej-files"]["language"] == "fail"


def test_makefile_targets_run_the_projects_checks(project: Path) -> None:
    """``make -n`` shows each everyday target running the command the project's CI runs."""
    expected = {
        "install": "uv sync",
        "run": f"uv run python -m {PACKAGE}",
        "test": "uv run pytest -W error",
        "lint": "uv run ruff format --check .",
        "typecheck": "uv run mypy",
        "docker-build": "docker build --tag my-service:local .",
        "docker-up": "docker compose up --build",
    }
    for target, command in expected.items():
        result = check("make", "-n", target, cwd=project)
        assert result.returncode == 0, result.stderr
        assert command in result.stdout, (target, result.stdout)
    check_target = check("make", "-n", "check", cwd=project).stdout
    for command in ("ruff check", "mypy", "pytest"):
        assert command in check_target


def test_matrix_json_feeds_the_template_ci() -> None:
    """The template's CI reads its matrix from ``python -m tests.matrix``: it must be JSON."""
    result = check(sys.executable, "-m", "tests.matrix", cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    matrix = json.loads(result.stdout)
    assert matrix["include"]
    assert all("id" in entry for entry in matrix["include"])
