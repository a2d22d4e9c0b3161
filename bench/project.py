"""The rendered service under test: render it with copier, install it with uv, describe it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent

# Libraries whose versions explain the numbers; recorded with every result.
_REPORTED_DISTRIBUTIONS = (
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "uvloop",
    "httptools",
    "structlog",
    "loguru",
    "sqlalchemy",
    "asyncpg",
    "taskiq",
    "taskiq-redis",
    "redis",
)


@dataclass(frozen=True)
class Project:
    """A rendered and installed service: where it is and how to reach its app and settings."""

    root: Path
    package: str

    @property
    def python(self) -> Path:
        """The project venv's interpreter; both apps run on it, so they share every library."""
        return self.root / ".venv" / "bin" / "python"

    @property
    def target(self) -> str:
        """The app factory, per the rendered project's contract."""
        return f"{self.package}.main:create_app"

    @property
    def env_prefix(self) -> str:
        """The settings' env prefix: the package name upper-cased, then ``_``."""
        return f"{self.package.upper()}_"


def run_checked(command: list[str], cwd: Path | None = None) -> float:
    """Run a command, fail with its output if it fails, and return its wall time in seconds."""
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({completed.returncode}):\n"
            f"{completed.stdout[-3000:]}{completed.stderr[-3000:]}"
        )
    return elapsed


def render(template: Path, destination: Path, data: dict[str, str]) -> float:
    """Render the template at its HEAD commit with copier's CLI and return the render time.

    The CLI in a subprocess is what a user runs, so its start-up counts in the render time.
    """
    command = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet"]
    command += ["--vcs-ref", "HEAD"]
    for key, value in data.items():
        command += ["--data", f"{key}={value}"]
    return run_checked([*command, str(template), str(destination)])


def install(root: Path) -> float:
    """Install the project's runtime dependencies (no dev group) and return the time taken."""
    return run_checked(["uv", "sync", "--no-dev", "--quiet"], cwd=root)


def read_answers(root: Path) -> dict[str, str]:
    """Read the copier answers a project was rendered with, as text (PyYAML comes with copier)."""
    answers = root / ".copier-answers.yml"
    if not answers.is_file():
        return {}
    loaded = yaml.safe_load(answers.read_text("utf-8")) or {}
    return {str(key): str(value) for key, value in loaded.items()}


def read_package_name(root: Path) -> str:
    """Read ``package_name`` from the copier answers file, so any rendered service works."""
    answers = root / ".copier-answers.yml"
    if answers.is_file():
        match = re.search(r"^package_name:\s*['\"]?(\w+)", answers.read_text("utf-8"), re.M)
        if match:
            return match.group(1)
    candidates = sorted(path.parent.name for path in (root / "src").glob("*/main.py"))
    if len(candidates) == 1:
        return candidates[0]
    raise RuntimeError(f"cannot tell the service's package in {root} (found {candidates})")


def describe_venv(project: Project) -> dict[str, str | None]:
    """Return the installed versions of the libraries that matter, plus the Python version."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "def v(n):\n"
        "    try: return m.version(n)\n"
        "    except m.PackageNotFoundError: return None\n"
        f"r = {{n: v(n) for n in {_REPORTED_DISTRIBUTIONS!r}}}\n"
        "r['python'] = sys.version.split()[0]\n"
        "print(json.dumps(r))\n"
    )
    completed = subprocess.run(
        [str(project.python), "-c", script], capture_output=True, text=True, check=True
    )
    versions: dict[str, str | None] = json.loads(completed.stdout)
    return versions


def template_commit(template: Path) -> str | None:
    """Return the template's HEAD commit (what copier rendered), or None outside git."""
    completed = subprocess.run(
        ["git", "-C", str(template), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or None


def clean_env(prefix: str, extra: dict[str, str]) -> dict[str, str]:
    """Environment for the apps: no virtualenv or service settings leaked from the caller.

    The template repository's root goes on ``PYTHONPATH`` so the venv can import ``bench``.
    ``PYTHONDONTWRITEBYTECODE`` is dropped: a production image ships compiled bytecode, and
    without it every cold start would measure the compiler instead of the imports.
    """
    dropped = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE"}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith(prefix)
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env
