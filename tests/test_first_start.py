"""The first five minutes: a default render serves its example resource on first start.

The render goes through copier's command line with its tasks, as the README's first command
does (``.ci/run`` runs that command itself); then ``make install``'s command, then the service
with the ``.env`` the render created. No migration step, no server: the development ``.env``
of a SQLite service applies the migrations when the service starts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.projects import UV, project_env, run
from tests.update_support import init_template_repo, render

PACKAGE = "my_service"
#: Generous bounds for a loaded machine; the loop ends as soon as the service answers.
START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30


def free_port() -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    service = subprocess.Popen(
        [UV, "run", "--locked", "python", "-m", PACKAGE],
        cwd=project,
        env={**env, f"{PACKAGE.upper()}_SERVER__PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = ""
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert service.poll() is None, "the service exited during start-up"
            assert time.monotonic() < deadline, "the service did not answer /health"
            try:
                status, _ = request(f"{base}/health")
            except OSError:
                time.sleep(0.2)  # polling for the port to open, not waiting for time to pass
                continue
            if status == 200:
                break
        created_status, created = request(f"{base}/notes", {"title": "first start"})
        fetched_status, fetched = request(f"{base}/notes/{created.get('id')}")
        ready_status, ready = request(f"{base}/readiness")
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGTERM)
        try:
            output, _ = service.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(service.pid, signal.SIGKILL)
            output, _ = service.communicate()

    assert created_status == 201, (created, output)
    assert fetched_status == 200, (fetched, output)
    assert fetched["title"] == "first start"
    assert ready_status == 200, (ready, output)
    assert ready["checks"] == {"database": "ok", "migrations": "ok"}
    assert "schema_migrated" in output
    assert (project / f"{PACKAGE}.db").is_file()
