"""Render the template and run commands in the rendered project, isolated from this repo.

The template is rendered from the repository root at ``HEAD`` with copier's Python API. When the
working tree has uncommitted changes, copier renders them too and warns (``DirtyLocalWarning``,
filtered in pyproject.toml): testing your edits before committing them is the point.

Commands in a rendered project get an environment cleaned of everything that would make them
use this repository's virtual environment or settings (``VIRTUAL_ENV``, its ``bin`` on
``PATH``, ``PYTHONPATH``, pytest and coverage variables, uv project settings), share the
machine's uv cache (uv's default, or the caller's ``UV_CACHE_DIR``), share mypy's cache with the
other projects the same worker checks on the same Python (under the user's cache directory: the
dependencies are the same, so only the project's own modules are checked anew; mypy still
re-checks any file whose content differs), and use the interpreter that matches the project's
``python_version``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import copier
import pytest

from tests.pythons import find_python

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The uv running this suite (``uv run`` exports its own path as ``UV``), so a uv installed with
#: ``pip install --user`` works even when its directory is not on ``PATH``.
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
#: Where the rendered projects' mypy caches live, one per worker and flavour: in the user's cache
#: directory, like uv's own cache, so a fresh clone of this repository starts with them warm.
MYPY_CACHE_ROOT = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "fastapi-service-template"
    / "mypy"
)
#: Longest a single command in a rendered project may take before it counts as hung.
COMMAND_TIMEOUT_S = 900
#: How long the output of a command killed at its bound is still read.
KILLED_OUTPUT_TIMEOUT_S = 10
#: Lines of output kept in a failure message (the end, where the summary is).
OUTPUT_TAIL_LINES = 400

# Variables that would point a rendered project's tools at the wrong environment or config, or
# slow its checks down.
_LEAKY_PREFIXES = ("PYTEST_", "COV_CORE_", "COVERAGE_", "MYPY", "RUFF_", "PIP_", "CONDA_")
_LEAKY_NAMES = frozenset(
    {
        "VIRTUAL_ENV",
        "VIRTUAL_ENV_PROMPT",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONSAFEPATH",
        "PYTHONWARNINGS",
        "PYTHONDEVMODE",
        # The rendered suites start the service in child processes again and again: without
        # bytecode written on the first import, every start compiles every module anew.
        "PYTHONDONTWRITEBYTECODE",
        "UV_PROJECT_ENVIRONMENT",
        "UV_PROJECT",
        "UV_PYTHON",
        "UV_RUN_RECURSION_DEPTH",
        "UV_FROZEN",
        "UV_LOCKED",
        "UV_NO_SYNC",
        "UV_NO_DEV",
        "UV_ONLY_DEV",
        "UV_NO_DEFAULT_GROUPS",
        "UV_CONSTRAINT",
        "UV_OVERRIDE",
        "UV_INDEX_STRATEGY",
        "UV_CONFIG_FILE",
        "UV_NO_CONFIG",
    }
)


def render(
    dst: Path,
    data: Mapping[str, object],
    *,
    src: Path = REPO_ROOT,
    vcs_ref: str = "HEAD",
) -> Path:
    """Render the template at ``src`` into ``dst`` with ``data``, other answers defaulted.

    The post-render tasks (git init, ``.env``) are skipped: tests/test_hooks.py tests them, and
    here they would only add a repository and generated secrets to every rendering.
    """
    copier.run_copy(
        str(src),
        dst,
        data=dict(data),
        defaults=True,
        unsafe=True,
        vcs_ref=vcs_ref,
        quiet=True,
        overwrite=True,
        skip_tasks=True,
    )
    return dst


def mypy_cache_dir(python_version: str, flavour: str = "locked") -> Path:
    """Return the mypy cache for this xdist worker, Python version and dependency ``flavour``.

    Per worker, so two mypy processes never write one cache at once; per flavour, so projects
    installed at their lowest versions do not evict the entries of the locked ones.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return MYPY_CACHE_ROOT / f"{worker}-py{python_version}-{flavour}"


def project_env(
    python_version: str, package_name: str = "my_service", *, mypy_flavour: str = "locked"
) -> dict[str, str]:
    """Return the environment for commands run in a rendered project.

    The project's own settings variables (``<PACKAGE>_*``) are dropped as well, so a developer's
    shell cannot change what the rendered tests see.
    """
    settings_prefix = f"{package_name.upper()}_"
    venv = os.environ.get("VIRTUAL_ENV")
    venv_bin = (Path(venv) / "bin").resolve() if venv else None
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _LEAKY_NAMES
        and not key.startswith(_LEAKY_PREFIXES)
        and not key.startswith(settings_prefix)
    }
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and (venv_bin is None or Path(entry).resolve() != venv_bin)
    )
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_PYTHON"] = find_python(python_version)
    env["MYPY_CACHE_DIR"] = str(mypy_cache_dir(python_version, mypy_flavour))
    env["PYTEST_DEBUG_TEMPROOT"] = str(pytest_temp_root())
    return env


def pytest_temp_root() -> Path:
    """Return the root of a rendered project's pytest temporary directories, one per worker.

    Sessions sharing a root clean up each other's old directories, and a removal that races a
    live session warns, which ``-W error`` turns into a failed run.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    root = Path(tempfile.gettempdir()) / f"rendered-pytest-{os.getuid()}-{worker}"
    root.mkdir(exist_ok=True)
    return root


@dataclass(frozen=True)
class CommandResult:
    """A finished command: what ran, where, its exit status and its combined output."""

    argv: tuple[str, ...]
    cwd: Path
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        """Return whether the command exited with status 0."""
        return self.returncode == 0

    def assert_ok(self) -> None:
        """Fail the calling test with the command's output unless it exited with status 0."""
        if not self.ok:
            pytest.fail(self.explain(), pytrace=False)

    def explain(self) -> str:
        """Describe the failure for an assertion message: command, status, output tail."""
        lines = self.output.splitlines()
        shown = lines[-OUTPUT_TAIL_LINES:]
        cut = (
            f"[... {len(lines) - len(shown)} earlier lines cut ...]\n"
            if len(shown) < len(lines)
            else ""
        )
        return (
            f"`{shlex.join(self.argv)}` in {self.cwd} exited with {self.returncode}:\n"
            f"{cut}" + "\n".join(shown)
        )


def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> CommandResult:
    """Run ``argv`` in ``cwd`` with no stdin, capturing stdout and stderr together.

    The command runs in a session of its own; at the bound, the whole session is killed, so a
    hung test process under ``uv run`` does not live on, busy, beside the rest of the suite.
    """
    with subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            try:
                output, _ = process.communicate(timeout=KILLED_OUTPUT_TIMEOUT_S)
            except subprocess.TimeoutExpired as still_open:  # a child of its own session
                process.kill()
                output = _text(still_open.output)
            note = f"[timed out after {COMMAND_TIMEOUT_S} s; its process group was killed]"
            return CommandResult(tuple(argv), cwd, -1, f"{output}\n{note}")
    return CommandResult(tuple(argv), cwd, process.returncode, output)


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def free_port() -> int:
    """Return a TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def readme_block(marker: str) -> str:
    """Return the shell command in README.md's fenced block after ``<!-- marker -->``."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", readme, re.DOTALL)
    assert found is not None, f"README.md has no block after <!-- {marker} -->"
    return found.group(1)
