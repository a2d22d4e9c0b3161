"""Find a working interpreter for each Python version the rendered projects run on.

uv must not download interpreters here (``UV_PYTHON_DOWNLOADS=never``): the machine's own are
used. A ``python3.X`` on ``PATH`` may be a pyenv shim that only prints an error, or the template
repository's own virtual environment; both are rejected by actually running the candidate.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

_PROBE = (
    "import sys; "
    "print('%d.%d' % sys.version_info[:2], sys.prefix != sys.base_prefix, sys.executable)"
)
_PYENV_ROOTS = (os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv"), "/root/.pyenv")


class PythonNotFoundError(LookupError):
    """No interpreter of the requested version runs on this machine."""


def _real_executable(candidate: str, version: str) -> str | None:
    """Return the interpreter ``candidate`` runs if it is Python ``version`` outside a venv.

    A pyenv shim is replaced by the binary it runs: uv compares a project's environment with
    the requested path, and a shim path would make every ``uv run`` rebuild the environment.
    """
    try:
        probe = subprocess.run(
            [candidate, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = probe.stdout.split(maxsplit=2)
    if probe.returncode != 0 or fields[:2] != [version, "False"] or len(fields) != 3:
        return None
    return fields[2].strip()


def _patch_level(path: Path) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", path.parent.parent.name)
    return tuple(int(part) for part in match.groups()) if match else (0,)


def _path_without_virtualenvs() -> str:
    """Return ``PATH`` minus the bin directory of the virtual environment running the tests."""
    venv = os.environ.get("VIRTUAL_ENV")
    entries = os.environ.get("PATH", "").split(os.pathsep)
    if venv:
        entries = [e for e in entries if Path(e).resolve() != (Path(venv) / "bin").resolve()]
    return os.pathsep.join(entries)


@functools.cache
def find_python(version: str) -> str:
    """Return the path of an interpreter that runs Python ``version`` (``"3.12"``).

    ``python3.X`` on ``PATH`` wins when it actually runs; otherwise the newest
    ``$PYENV_ROOT/versions/3.X.*/bin/python3.X``.
    """
    candidates: list[str] = []
    on_path = shutil.which(f"python{version}", path=_path_without_virtualenvs())
    if on_path:
        candidates.append(on_path)
    for root in dict.fromkeys(r for r in _PYENV_ROOTS if r):
        found = sorted(
            Path(root, "versions").glob(f"{version}.*/bin/python{version}"),
            key=_patch_level,
            reverse=True,
        )
        candidates.extend(str(path) for path in found)
    for candidate in candidates:
        executable = _real_executable(candidate, version)
        if executable:
            return executable
    tried = ", ".join(candidates) or "nothing found"
    raise PythonNotFoundError(
        f"no working Python {version} interpreter (tried: {tried}). Install it (for example "
        f"`pyenv install {version}` or `apt-get install python{version}`) or put a working "
        f"`python{version}` on PATH; .ci/run does this on CI machines."
    )
