"""The first five minutes: a default render serves its example resource on first start.

One test renders through copier's command line with its tasks, runs ``make install``'s command,
then the service with the ``.env`` the render created: no migration step and no server, since
the development ``.env`` of a SQLite service applies the migrations when the service starts.
The other runs the README's first command itself where ``python3`` is a pyenv-like shim that
follows ``.python-version``, so after ``cd`` into the render it is another interpreter
(``.ci/run`` runs the same command on the machine as it is).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.projects import REPO_ROOT, UV, free_port, project_env, readme_block, run
from tests.pythons import find_python
from tests.update_support import copy_checkout, git, init_template_repo, render

PACKAGE = "my_service"
PORT_VARIABLE = f"{PACKAGE.upper()}_SERVER__PORT"
#: Generous bounds for a loaded machine; waits end as soon as the service answers.
START_TIMEOUT_S = 600
STOP_TIMEOUT_S = 30
PORT_ATTEMPTS = 3
#: A pyenv shim in a few lines: the version named by the nearest `.python-version` upwards from
#: the working directory, else the global one.
SHIM = """#!/bin/sh
dir=$PWD
version=$GLOBAL_PYTHON_VERSION
while [ "$dir" != / ]; do
  if [ -f "$dir/.python-version" ]; then version=$(head -n 1 "$dir/.python-version"); break; fi
  dir=$(dirname "$dir")
done
exec "$SHIM_INTERPRETERS/$version/bin/python" "$@"
"""


def request(url: str, body: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    """GET ``url``, or POST ``body`` as JSON; return the status and the decoded JSON body."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    outgoing = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (local http)
    try:
        with urllib.request.urlopen(outgoing, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def start(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> tuple[subprocess.Popen[str], str]:
    """Start ``argv`` in its own process group; return it and its base URL once /health answers.

    The commands install things before they serve, so another process may take the chosen port
    meanwhile: a start that fails because the port is in use is made again on another port.
    """
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        service = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**env, PORT_VARIABLE: str(port)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while service.poll() is None:
            if time.monotonic() > deadline:
                output = stop(service)
                raise AssertionError(f"no answer on /health\n--- output ---\n{output}")
            try:
                if request(f"{base}/health")[0] == 200:
                    return service, base
            except OSError:
                time.sleep(0.2)  # polling for the port to open, not waiting for time to pass
        output = stop(service)
        if "address already in use" not in output:
            raise AssertionError(f"the service exited during start-up\n--- output ---\n{output}")
    raise AssertionError(f"port in use at each of {PORT_ATTEMPTS} attempts")


@contextmanager
def serving(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Iterator[str]:
    """Serve ``argv`` (see ``start``) for the block; its output is attached to any failure."""
    service, base = start(argv, cwd, env)
    try:
        yield base
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- output ---\n{stop(service)}") from None
    finally:
        stop(service)


def stop(service: subprocess.Popen[str]) -> str:
    """Stop the service's process group (SIGTERM, SIGKILL if it lingers); return its output.

    The pipe is read and closed on every path, including a service that exited on its own
    (whatever it left running in its group is killed).
    """
    if service.stdout is None or service.stdout.closed:
        return ""
    if service.poll() is not None:
        with suppress(ProcessLookupError):
            os.killpg(service.pid, signal.SIGKILL)
        return service.communicate()[0]
    with suppress(ProcessLookupError):
        os.killpg(service.pid, signal.SIGTERM)
    try:
        return service.communicate(timeout=STOP_TIMEOUT_S)[0]
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(service.pid, signal.SIGKILL)
        return service.communicate()[0]


def assert_example_resource_works(base: str) -> None:
    """POST a note, GET it back, and find the instance ready."""
    created_status, created = request(f"{base}/notes", {"title": "first start"})
    assert created_status == 201, created
    fetched_status, fetched = request(f"{base}/notes/{created['id']}")
    assert fetched_status == 200, fetched
    assert fetched["title"] == "first start"
    ready_status, ready = request(f"{base}/readiness")
    assert ready_status == 200, ready
    assert ready["checks"] == {"database": "ok", "migrations": "ok"}


def test_default_render_serves_the_example_resource_on_first_start(tmp_path: Path) -> None:
    """Render, install, start: POST then GET /notes answer, and the service is ready."""
    template = init_template_repo(tmp_path / "template")
    project = tmp_path / "my-service"
    render(template, project, ref="v0.1.0")
    env_file = (project / ".env").read_text(encoding="utf-8")
    assert f"{PACKAGE.upper()}_ENVIRONMENT=development" in env_file
    assert not (project / f"{PACKAGE}.db").exists()

    env = project_env("3.12")
    installed = run([UV, "sync", "--locked"], project, env)
    assert installed.ok, installed.explain()

    with serving([UV, "run", "--locked", "python", "-m", PACKAGE], project, env) as base:
        assert_example_resource_works(base)
    assert (project / f"{PACKAGE}.db").is_file()


def test_the_readmes_first_command_works_with_pyenv_shims(tmp_path: Path) -> None:
    """The first command serves the example resource where ``python3`` is a pyenv shim.

    ``python3`` follows ``.python-version``: 3.11 in the clone, the render's 3.12 after ``cd``.
    Each interpreter is a fresh environment without uv, as a new pyenv version is.
    """
    env = project_env("3.12")
    interpreters = tmp_path / "interpreters"
    for version in ("3.11", "3.12"):
        created = run(
            [find_python(version), "-m", "venv", str(interpreters / version)], tmp_path, env
        )
        assert created.ok, created.explain()
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "python3"
    shim.write_text(SHIM, encoding="utf-8")
    shim.chmod(0o755)

    clone = tmp_path / "clone" / "template"
    clone.parent.mkdir()
    git(clone.parent, "clone", "--quiet", str(REPO_ROOT), str(clone))
    # The README renders `--vcs-ref HEAD`: the checkout's files, committed or not.
    git(clone, "rm", "-r", "--quiet", ".")
    copy_checkout(clone)
    # Staged again, so a clean checkout gives a clean clone: copier fails to commit "draft
    # changes" that `git add` turns into nothing.
    git(clone, "add", "--all")
    shell_env = {
        **env,
        "PATH": f"{shims}{os.pathsep}{env['PATH']}",
        "GLOBAL_PYTHON_VERSION": "3.11",
        "SHIM_INTERPRETERS": str(interpreters),
    }
    for version in ("3.11", "3.12"):
        has_uv = run(
            [str(interpreters / version / "bin" / "python"), "-c", "import uv"], tmp_path, env
        )
        assert not has_uv.ok, "the interpreters must start without uv"

    with serving(["bash", "-c", readme_block("start-command")], clone, shell_env) as base:
        assert_example_resource_works(base)
    assert (clone.parent / "my-service" / ".python-version").read_text().strip() == "3.12"
