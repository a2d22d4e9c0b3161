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
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.databases import Databases
from tests.matrix import Combination
from tests.projects import free_port, project_env
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
    """Render with Redis for rate limits and the cache: compose and CI then carry Redis."""
    destination = tmp_path_factory.mktemp("shipping-redis") / "my-service"
    return render_locked(template_repo, destination, rate_limit_storage="redis", cache="redis")


def render_locked(template_repo: Path, destination: Path, **answers: str) -> Path:
    """Render with the post-render tasks and lock the project (uv.lock), as its owner would."""
    render(template_repo, destination, data={"python_version": PYTHON, **answers})
    locked = run_in(["uv", "lock"], destination, project_env(PYTHON))
    assert locked.ok, locked.explain()
    return destination


@pytest.fixture(scope="module")
def project(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render the default answers (SQLite, rate limits in memory) once, and lock it."""
    return render_locked(template_repo, tmp_path_factory.mktemp("shipping") / "my-service")


@pytest.fixture(scope="module")
def with_postgresql(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render with PostgreSQL: compose runs the server and a migrate step, CI a service."""
    destination = tmp_path_factory.mktemp("shipping-postgresql") / "my-service"
    return render_locked(template_repo, destination, database="postgresql")


@pytest.fixture(scope="module")
def with_mysql(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render with MySQL/MariaDB and Redis: both servers in compose and in CI."""
    destination = tmp_path_factory.mktemp("shipping-mysql") / "my-service"
    return render_locked(template_repo, destination, database="mysql", rate_limit_storage="redis")


@pytest.fixture(scope="module")
def without_database(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render without a database: no migrations anywhere, no /readiness."""
    destination = tmp_path_factory.mktemp("shipping-none") / "my-service"
    return render_locked(template_repo, destination, database="none")


@pytest.fixture(scope="module")
def none_with_redis(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render without a database but with Redis: /readiness checks Redis alone."""
    destination = tmp_path_factory.mktemp("shipping-none-redis") / "my-service"
    return render_locked(template_repo, destination, database="none", rate_limit_storage="redis")


@pytest.fixture(scope="module")
def with_jobs(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render with PostgreSQL and background jobs: compose runs a worker and Redis too."""
    destination = tmp_path_factory.mktemp("shipping-jobs") / "my-service"
    return render_locked(template_repo, destination, database="postgresql", jobs="redis")


@pytest.fixture(scope="module")
def none_with_jobs(template_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render without a database but with background jobs: no migrations to wait for."""
    destination = tmp_path_factory.mktemp("shipping-none-jobs") / "my-service"
    return render_locked(template_repo, destination, database="none", jobs="redis")


#: Fixture name -> (database, rate_limit_storage) of the render it returns.
RENDERS = {
    "project": ("sqlite", "memory"),
    "with_redis": ("sqlite", "redis"),
    "with_postgresql": ("postgresql", "memory"),
    "with_mysql": ("mysql", "redis"),
    "without_database": ("none", "memory"),
    "none_with_redis": ("none", "redis"),
}


@pytest.fixture(scope="module")
def databases() -> Iterator[Databases]:
    """Fresh server databases for the replays; dropped when the module ends."""
    created = Databases()
    yield created
    created.drop_all()


def check(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a checker and return its result (the caller asserts on the exit status)."""
    return subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )


def stages(project: Path) -> list[Stage]:
    """Return the rendered Dockerfile's stages."""
    return parse((project / "Dockerfile").read_text(encoding="utf-8"))


# --- Dockerfile -------------------------------------------------------------------------------


@pytest.mark.parametrize("render_name", list(RENDERS))
def test_dockerfile_passes_hadolint(
    request: pytest.FixtureRequest, render_name: str, tmp_path: Path
) -> None:
    """Hadolint reports nothing, not even style notes; a shell-form CMD would be reported."""
    project: Path = request.getfixturevalue(render_name)
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


@pytest.mark.parametrize("render_name", list(RENDERS))
def test_dockerfile_shape(request: pytest.FixtureRequest, render_name: str) -> None:
    """Two stages; the final one is slim, unprivileged, healthchecked and exec-form."""
    project: Path = request.getfixturevalue(render_name)
    database = RENDERS[render_name][0]
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
    copied = [
        source
        for instruction in [*build.all("COPY"), *runtime.all("COPY")]
        if "--from=" not in instruction.args
        for source in instruction.args.split()[:-1]
    ]
    for source in copied:
        assert (project / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    # With a database, `alembic upgrade head` needs the migrations and its configuration.
    runtime_copies = [i.args.split()[0] for i in runtime.all("COPY") if "--from=" not in i.args]
    if database == "none":
        assert runtime_copies == []
        assert not (project / "migrations").exists()
    else:
        assert runtime_copies == ["pyproject.toml", "migrations"]
        assert "[tool.alembic]" in (project / "pyproject.toml").read_text(encoding="utf-8")
    # The image runs production whatever the settings' default becomes.
    assert runtime.env()[f"{PACKAGE.upper()}_ENVIRONMENT"] == "production"
    database_url = runtime.env().get(f"{PACKAGE.upper()}_DATABASE__URL")
    if database == "sqlite":
        # The one directory the unprivileged user may write holds the database file.
        assert database_url == f"sqlite:////app/data/{PACKAGE}.db"
        assert "mkdir /app/data && chown app:app /app/data" in [i.args for i in runtime.all("RUN")]
    else:
        assert database_url is None


def migrate_like_compose(
    runtime: Stage,
    sandbox: Sandbox,
    run_env: dict[str, str],
    *,
    databases: Databases,
    render_name: str,
) -> None:
    """Run compose's ``migrate`` command with the image's files; point ``run_env`` at the DB.

    The runtime stage's copies from the build context are applied (its RUNs create users and
    are not replayed); the database is the image's SQLite path mapped into the sandbox, or a
    fresh server database where compose would use its ``db`` service.
    """
    database = RENDERS[render_name][0]
    for instruction in runtime.all("COPY"):
        if "--from=" not in instruction.args:
            sandbox.apply(instruction)
    url_variable = f"{PACKAGE.upper()}_DATABASE__URL"
    if database == "sqlite":
        run_env[url_variable] = sandbox.map_value(run_env[url_variable])
        sandbox.path("/app/data").mkdir()  # the runtime stage's `RUN mkdir /app/data`
    else:
        combination = Combination({"database": database}, f"shipping-{render_name}")
        run_env[url_variable] = databases.env_for(combination)["TEST_DATABASE_URL"]
    compose_file = sandbox.project / "docker-compose.yml"
    compose = yaml.safe_load(compose_file.read_text(encoding="utf-8"))
    workdir = sandbox.path(runtime.all("WORKDIR")[-1].args)
    for command in (compose["services"]["migrate"]["command"], ["alembic", "current"]):
        result = subprocess.run(
            command, cwd=workdir, env=run_env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert "(head)" in result.stdout, result.stdout + result.stderr


def replay_build_stage(build: Stage, sandbox: Sandbox, tmp_path: Path) -> Path:
    """Run the build stage in the sandbox; check the environment it leaves; return its python."""
    runs = []
    for instruction in build.instructions:
        result = sandbox.apply(instruction)
        if result is not None:
            assert result.returncode == 0, f"{instruction.args}\n{result.stdout}{result.stderr}"
            runs.append(instruction.args)
    assert len(runs) == 2, runs
    assert "--no-install-project" in runs[0]

    venv_python = sandbox.path("/app/.venv/bin/python")
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
    compiled = list(sandbox.path("/app/.venv").rglob(f"{PACKAGE}/__pycache__/*.pyc"))
    assert compiled, "UV_COMPILE_BYTECODE must leave compiled bytecode in the image"
    return venv_python


def fetch(python: Path, url: str) -> subprocess.CompletedProcess[str]:
    """GET ``url`` with the image's Python and print the body (non-2xx: non-zero exit)."""
    code = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=4).read().decode())"
    )
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=False, timeout=10
    )


@pytest.mark.parametrize("render_name", ["project", "with_postgresql", "without_database"])
def test_dockerfile_build_and_run_steps_work_outside_docker(
    request: pytest.FixtureRequest, render_name: str, databases: Databases, tmp_path: Path
) -> None:
    """Replay the build stage, migrate like compose's ``migrate``, serve, probe and stop.

    The build stage runs in a clean directory; with a database, the migrations run from the
    image's files as compose's one-shot ``migrate`` service runs them; then the image serves,
    its HEALTHCHECK passes, /readiness answers, and SIGTERM stops it like Docker.
    """
    project: Path = request.getfixturevalue(render_name)
    database, storage = RENDERS[render_name]
    build, runtime = stages(project)
    env = project_env(PYTHON)
    sandbox = Sandbox(root=tmp_path / "image", project=project, base_env=env)
    venv_python = replay_build_stage(build, sandbox, tmp_path)

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
    if database != "none":
        migrate_like_compose(
            runtime, sandbox, run_env, databases=databases, render_name=render_name
        )
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
        readiness = fetch(venv_python, f"http://127.0.0.1:{port}/readiness")
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
    if database == "none" and storage == "memory":
        assert "404" in readiness.stderr, "nothing to check: no /readiness"
    else:  # the migrated database answers: the image's service is ready
        assert readiness.returncode == 0, readiness.stderr + output
        assert json.loads(readiness.stdout)["checks"] == {"database": "ok", "migrations": "ok"}


# --- YAML and schemas -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "schema"),
    [
        (".github/workflows/ci.yml", "vendor.github-workflows"),
        ("docker-compose.yml", "vendor.compose-spec"),
        (".github/dependabot.yml", "vendor.dependabot"),
    ],
)
@pytest.mark.parametrize("render_name", list(RENDERS))
def test_rendered_config_matches_its_schema(
    request: pytest.FixtureRequest, tmp_path: Path, relative: str, schema: str, render_name: str
) -> None:
    """Each file validates; with its top-level structure broken it does not."""
    project: Path = request.getfixturevalue(render_name)
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
    assert app["depends_on"]["redis"] == {"condition": "service_healthy"}
    for setting in ("RATE_LIMIT__REDIS_URL", "CACHE__REDIS_URL"):
        assert app["environment"][f"{PACKAGE.upper()}_{setting}"].startswith("redis://redis:")
    assert "healthcheck" in redis
    workflow = yaml.safe_load(
        (with_redis / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    )
    test_job = workflow["jobs"]["test"]
    assert "redis" in test_job["services"]
    assert test_job["env"]["TEST_REDIS_URL"].startswith("redis://127.0.0.1:6379")


@pytest.mark.parametrize("render_name", ["with_jobs", "none_with_jobs"])
def test_jobs_run_a_worker_next_to_the_app_and_redis_in_compose_and_ci(
    request: pytest.FixtureRequest, render_name: str
) -> None:
    """The worker is the app's image with another command and the app's dependencies.

    It has no health check of the API's to fail, and Redis keeps queued jobs across a restart.
    """
    project: Path = request.getfixturevalue(render_name)
    checker = tool("check-jsonschema")
    for relative, schema in [
        ("docker-compose.yml", "vendor.compose-spec"),
        (".github/workflows/ci.yml", "vendor.github-workflows"),
    ]:
        result = check(checker, "--builtin-schema", schema, relative, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load((project / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    app, worker, redis = services["app"], services["worker"], services["redis"]
    assert worker["command"] == ["python", "-m", f"{PACKAGE}.worker"]
    assert (worker["image"], worker["build"]) == (app["image"], app["build"])
    assert worker["depends_on"] == app["depends_on"]
    assert worker["depends_on"]["redis"] == {"condition": "service_healthy"}
    for service in (app, worker):
        variables = service["environment"]
        assert variables[f"{PACKAGE.upper()}_JOBS__REDIS_URL"] == "redis://redis:6379/0"
        assert variables[f"{PACKAGE.upper()}_ENVIRONMENT"] == "production"
    assert worker["healthcheck"] == {"disable": True}
    assert "ports" not in worker
    assert redis["command"] == ["redis-server", "--appendonly", "yes"]
    if render_name == "with_jobs":
        assert "migrate" in worker["depends_on"]
    workflow = yaml.safe_load(
        (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    )
    test_job = workflow["jobs"]["test"]
    assert "redis" in test_job["services"]
    assert test_job["env"]["TEST_REDIS_URL"].startswith("redis://127.0.0.1:6379")


@pytest.mark.parametrize("render_name", list(RENDERS))
def test_compose_and_ci_carry_the_chosen_database(
    request: pytest.FixtureRequest, render_name: str
) -> None:
    """Compose and CI run what the database answer needs, and nothing else.

    With a database, a one-shot ``migrate`` service with the app's image and settings runs
    before the app; SQLite's file is in a volume; a server database has its own service.
    """
    project: Path = request.getfixturevalue(render_name)
    database, storage = RENDERS[render_name]
    compose_text = (project / "docker-compose.yml").read_text(encoding="utf-8")
    compose = yaml.safe_load(compose_text)  # resolves the `<<: *service` merges
    services = compose["services"]
    app = services["app"]
    url_variable = f"{PACKAGE.upper()}_DATABASE__URL"
    workflow = yaml.safe_load(
        (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    )
    test_job = workflow["jobs"]["test"]
    expected = {"app"} | ({"redis"} if storage == "redis" else set())
    # .env is for development; what compose sets wins over it: the stack runs production.
    assert app["environment"][f"{PACKAGE.upper()}_ENVIRONMENT"] == "production"
    if database == "none":
        assert set(services) == expected
        assert "depends_on" not in app or set(app["depends_on"]) == {"redis"}
        assert "volumes" not in compose
        assert "TEST_DATABASE_URL" not in test_job.get("env", {})
        return
    migrate = services["migrate"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert migrate["image"] == app["image"]
    assert migrate["build"] == app["build"]
    assert migrate["environment"] == app["environment"]
    assert migrate["restart"] == "no"
    assert app["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    # Only the one-shot service migrates, never the app's workers.
    assert app["environment"][f"{PACKAGE.upper()}_DATABASE__MIGRATE_ON_START"] == "false"
    if database == "sqlite":
        assert set(services) == expected | {"migrate"}
        assert app["volumes"] == migrate["volumes"] == ["data:/app/data"]
        assert set(compose["volumes"]) == {"data"}
        assert url_variable not in app["environment"]  # the image's own, under /app/data
        assert "TEST_DATABASE_URL" not in test_job.get("env", {})
        return
    assert set(services) == expected | {"migrate", "db"}


@pytest.mark.parametrize("render_name", ["with_postgresql", "with_mysql"])
def test_a_database_server_gets_its_password_from_env(
    request: pytest.FixtureRequest, render_name: str
) -> None:
    """The server's password is generated into .env and reaches it by interpolation.

    The server is healthy before the migrations and the app start; compose interpolates the
    generated password into the server's settings and the app's URL; CI runs the same server.
    """
    project: Path = request.getfixturevalue(render_name)
    database = RENDERS[render_name][0]
    compose = yaml.safe_load((project / "docker-compose.yml").read_text(encoding="utf-8"))
    app, migrate, db = (compose["services"][name] for name in ("app", "migrate", "db"))
    workflow = yaml.safe_load(
        (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    )
    test_job = workflow["jobs"]["test"]
    assert (
        app["depends_on"]["db"] == migrate["depends_on"]["db"] == {"condition": "service_healthy"}
    )
    assert db["healthcheck"]["test"][0] == "CMD"
    [volume] = db["volumes"]
    assert volume.split(":")[0] in compose["volumes"]
    # The password is interpolated from .env, where the post-render task generated it.
    password = "${DATABASE_PASSWORD:?"  # noqa: S105 (compose interpolation, not a secret)
    server_password = db["environment"][
        "POSTGRES_PASSWORD" if database == "postgresql" else "MARIADB_PASSWORD"
    ]
    assert server_password.startswith(password)
    scheme, port = ("postgresql", 5432) if database == "postgresql" else ("mysql", 3306)
    url = app["environment"][f"{PACKAGE.upper()}_DATABASE__URL"]
    assert url.startswith(f"{scheme}://{PACKAGE}:{password}")
    assert f"@db:{port}/" in url
    example = (project / ".env.example").read_text(encoding="utf-8")
    assert "\nDATABASE_PASSWORD=CHANGE_ME_DATABASE_PASSWORD\n" in example
    env_file = (project / ".env").read_text(encoding="utf-8")
    [generated] = [line for line in env_file.splitlines() if line.startswith("DATABASE_PASSWORD=")]
    assert len(generated.partition("=")[2]) >= 32
    assert "CHANGE_ME" not in generated
    service = "postgres" if database == "postgresql" else "mariadb"
    assert "--health-cmd" in test_job["services"][service]["options"]
    assert test_job["env"]["TEST_DATABASE_URL"].startswith(f"{scheme}://")
    assert f"127.0.0.1:{port}/" in test_job["env"]["TEST_DATABASE_URL"]


def test_memory_storage_renders_no_redis(project: Path) -> None:
    """Without Redis chosen nothing mentions a Redis server."""
    compose = yaml.safe_load((project / "docker-compose.yml").read_text(encoding="utf-8"))
    assert set(compose["services"]) == {"app", "migrate"}
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


def test_template_repository_dependabot_config_matches_the_schema() -> None:
    """The template repository's own dependabot configuration validates."""
    result = check(
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.dependabot",
        str(REPO_ROOT / ".github" / "dependabot.yml"),
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


#: ``uses: owner/action@<commit SHA> # vX.Y.Z``: the form dependabot keeps up to date.
PINNED_ACTION = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
WORKFLOWS_AND_DEPENDABOT = [
    (".github/workflows/ci.yml", ".github/dependabot.yml"),
    ("template/.github/workflows/ci.yml.jinja", "template/.github/dependabot.yml"),
]


@pytest.mark.parametrize(("workflow", "dependabot"), WORKFLOWS_AND_DEPENDABOT)
def test_actions_are_pinned_by_sha_and_kept_up_to_date(workflow: str, dependabot: str) -> None:
    """Every action is pinned to a full commit SHA with its release, and dependabot moves both.

    A tag such as ``@v5`` can be moved to other code under a workflow that trusts it; a SHA
    cannot. The release in the comment is what dependabot reads and rewrites with the SHA.
    """
    uses = [
        line
        for line in (REPO_ROOT / workflow).read_text(encoding="utf-8").splitlines()
        if re.match(r"^\s*(?:- )?uses:", line)
    ]
    assert uses, f"{workflow} uses no action"
    unpinned = [line.strip() for line in uses if not PINNED_ACTION.match(line)]
    assert not unpinned, f"{workflow}: not pinned as `owner/action@<sha> # vX.Y.Z`: {unpinned}"
    # One action, one pin: two SHAs or two releases of the same action would drift apart.
    pins: dict[str, set[str]] = {}
    for line in uses:
        action, _, pin = line.split("uses:", 1)[1].strip().partition("@")
        pins.setdefault(action, set()).add(pin)
    assert all(len(versions) == 1 for versions in pins.values()), pins
    config = yaml.safe_load((REPO_ROOT / dependabot).read_text(encoding="utf-8"))
    assert any(
        update["package-ecosystem"] == "github-actions" and update["directory"] == "/"
        for update in config["updates"]
    ), f"{dependabot} does not keep the GitHub Actions up to date"


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
        "install": "uv sync --locked",
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


@pytest.mark.parametrize("render_name", ["with_postgresql", "with_mysql", "without_database"])
def test_makefile_migrates_only_with_a_database(
    request: pytest.FixtureRequest, render_name: str
) -> None:
    """``make migrate`` and ``make revision`` run Alembic; without a database they do not exist."""
    project: Path = request.getfixturevalue(render_name)
    migrate = check("make", "-n", "migrate", cwd=project)
    revision = check("make", "-n", "revision", "m=add tags", cwd=project)
    if RENDERS[render_name][0] == "none":
        assert migrate.returncode != 0
        assert revision.returncode != 0
        assert "alembic" not in (project / "Makefile").read_text(encoding="utf-8")
        return
    assert migrate.returncode == 0, migrate.stderr
    assert "uv run alembic upgrade head" in migrate.stdout
    assert revision.returncode == 0, revision.stderr
    assert 'uv run alembic revision --autogenerate -m "add tags"' in revision.stdout
    missing_message = subprocess.run(
        ["make", "revision"], cwd=project, capture_output=True, text=True, check=False
    )
    assert missing_message.returncode != 0
    assert "usage: make revision" in missing_message.stdout


def test_matrix_json_feeds_the_template_ci() -> None:
    """The template's CI reads its matrix from ``python -m tests.matrix``: it must be JSON."""
    result = check(sys.executable, "-m", "tests.matrix", cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    matrix = json.loads(result.stdout)
    assert matrix["include"]
    assert all("id" in entry for entry in matrix["include"])
